//! Fixed-capacity containers: sized once at boot, they never allocate again.
//!
//! Anything a guest can make grow at run time (queued interrupts, pages made
//! writable since the last checkpoint) lives in one of these, so a guest
//! can fill it but never make Bulkhead allocate.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The container is at its boot-time capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// A FIFO queue of at most `capacity` elements.
#[derive(Clone, Debug)]
pub struct BoundedQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T: PartialEq> BoundedQueue<T> {
    pub fn with_capacity(capacity: usize) -> BoundedQueue<T> {
        BoundedQueue {
            items: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Appends `item`; never reallocates (refuses instead).
    pub fn push_back(&mut self, item: T) -> Result<(), Full> {
        if self.items.len() >= self.capacity {
            return Err(Full);
        }
        self.items.push_back(item);
        Ok(())
    }

    pub fn front(&self) -> Option<&T> {
        self.items.front()
    }

    pub fn pop_front(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn contains(&self, item: &T) -> bool {
        self.items.contains(item)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

/// A list of at most `capacity` elements, drained as a whole.
#[derive(Clone, Debug)]
pub struct BoundedList<T> {
    items: Vec<T>,
    capacity: usize,
}

impl<T> BoundedList<T> {
    pub fn with_capacity(capacity: usize) -> BoundedList<T> {
        BoundedList {
            items: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub fn push(&mut self, item: T) -> Result<(), Full> {
        if self.items.len() >= self.capacity {
            return Err(Full);
        }
        self.items.push(item);
        Ok(())
    }

    /// Removes and yields every element; the capacity stays allocated.
    pub fn drain(&mut self) -> alloc::vec::Drain<'_, T> {
        self.items.drain(..)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_refuses_past_capacity_and_keeps_its_allocation() {
        let mut queue = BoundedQueue::with_capacity(3);
        let allocated = queue.items.capacity();
        for item in 0..3 {
            assert_eq!(queue.push_back(item), Ok(()));
        }
        assert_eq!(queue.push_back(9), Err(Full));
        assert_eq!(queue.len(), 3);
        assert!(queue.contains(&2));
        assert_eq!(queue.pop_front(), Some(0));
        assert_eq!(queue.push_back(3), Ok(()));
        assert_eq!(queue.front(), Some(&1));
        queue.clear();
        assert!(queue.is_empty());
        assert_eq!(queue.items.capacity(), allocated, "never reallocated");
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut queue = BoundedQueue::with_capacity(0);
        assert_eq!(queue.push_back(1u8), Err(Full));
        let mut list = BoundedList::with_capacity(0);
        assert_eq!(list.push(1u8), Err(Full));
    }

    #[test]
    fn list_drains_and_refills_without_growing() {
        let mut list = BoundedList::with_capacity(2);
        let allocated = list.items.capacity();
        assert_eq!(list.push(1), Ok(()));
        assert_eq!(list.push(2), Ok(()));
        assert_eq!(list.push(3), Err(Full));
        assert_eq!(list.drain().collect::<Vec<_>>(), [1, 2]);
        assert!(list.is_empty());
        assert_eq!(list.push(4), Ok(()));
        assert_eq!(list.len(), 1);
        assert_eq!(list.items.capacity(), allocated);
    }
}
