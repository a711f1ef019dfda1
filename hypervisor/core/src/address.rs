//! Address newtypes: physical, intermediate-physical, and ranges of them.

use core::fmt;

/// A physical address (what the CPU puts on the bus after all translation).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// An intermediate physical address: what a guest believes is physical.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Ipa(pub u64);

/// Size of the translation granule Bulkhead uses everywhere (4 KiB).
pub const PAGE_SIZE: u64 = 4096;

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PA {:#x}", self.0)
    }
}

impl fmt::Debug for Ipa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IPA {:#x}", self.0)
    }
}

impl PhysAddr {
    /// `self + offset`, or `None` on overflow.
    pub fn checked_add(self, offset: u64) -> Option<PhysAddr> {
        self.0.checked_add(offset).map(PhysAddr)
    }
}

impl Ipa {
    /// `self + offset`, or `None` on overflow.
    pub fn checked_add(self, offset: u64) -> Option<Ipa> {
        self.0.checked_add(offset).map(Ipa)
    }
}

/// A half-open physical range `[start, start + size)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PhysRange {
    pub start: PhysAddr,
    pub size: u64,
}

impl PhysRange {
    pub const fn new(start: u64, size: u64) -> Self {
        PhysRange {
            start: PhysAddr(start),
            size,
        }
    }

    /// One past the last byte, or `None` if the range wraps the address space.
    pub fn end(&self) -> Option<u64> {
        self.start.0.checked_add(self.size)
    }

    /// Whether the two ranges share at least one byte.
    pub fn overlaps(&self, other: &PhysRange) -> bool {
        ranges_overlap(self.start.0, self.size, other.start.0, other.size)
    }

    /// Whether `other` lies wholly inside `self`.
    pub fn contains_range(&self, other: &PhysRange) -> bool {
        match (self.end(), other.end()) {
            (Some(end), Some(other_end)) => other.start.0 >= self.start.0 && other_end <= end,
            _ => false,
        }
    }
}

/// Whether `[a, a + a_size)` and `[b, b + b_size)` share a byte; wrapping
/// ranges are treated as reaching the top of the address space.
pub fn ranges_overlap(a: u64, a_size: u64, b: u64, b_size: u64) -> bool {
    if a_size == 0 || b_size == 0 {
        return false;
    }
    let a_last = a.saturating_add(a_size - 1);
    let b_last = b.saturating_add(b_size - 1);
    a <= b_last && b <= a_last
}

/// Whether `value` is a multiple of `align` (a power of two).
pub const fn is_aligned(value: u64, align: u64) -> bool {
    value & (align - 1) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_edges() {
        assert!(!ranges_overlap(0, 0x1000, 0x1000, 0x1000));
        assert!(ranges_overlap(0, 0x1001, 0x1000, 0x1000));
        assert!(ranges_overlap(u64::MAX - 1, 10, u64::MAX, 1));
        assert!(!ranges_overlap(0, 0, 0, 10));
    }

    #[test]
    fn contains() {
        let outer = PhysRange::new(0x4000_0000, 0x8000_0000);
        assert!(outer.contains_range(&PhysRange::new(0x5000_0000, 0x1000)));
        assert!(!outer.contains_range(&PhysRange::new(0xBFFF_F000, 0x2000)));
        assert!(!outer.contains_range(&PhysRange::new(u64::MAX, 2)));
    }
}
