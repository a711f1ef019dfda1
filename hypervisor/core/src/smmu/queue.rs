//! Index arithmetic of the SMMU's circular queues: PROD and CONS with a wrap bit above the slot index.
//!
//! A queue of 2^log2 entries keeps its slot in bits [log2-1:0] and a wrap bit
//! at bit log2: equal indices mean empty, equal slots with different wrap
//! bits mean full. Bits above (CMDQ_CONS.ERR, EVENTQ_PROD.OVFLG) are not
//! part of the index and are masked off.

use super::registers::{EVENTQ_CONS_OVACKFLG, EVENTQ_PROD_OVFLG};

/// Largest queue the architecture allows (IDR1.CMDQS/EVENTQS at most 19).
pub const LOG2_MAX: u32 = 19;

/// The index arithmetic of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueIndex {
    log2: u32,
}

impl QueueIndex {
    /// A queue of 2^`log2` entries; None above [`LOG2_MAX`].
    pub fn new(log2: u32) -> Option<QueueIndex> {
        (log2 <= LOG2_MAX).then_some(QueueIndex { log2 })
    }

    pub fn log2(&self) -> u32 {
        self.log2
    }

    /// Number of entries.
    pub fn entries(&self) -> u32 {
        1 << self.log2
    }

    fn wrap_bit(&self) -> u32 {
        1 << self.log2
    }

    /// Slot and wrap bit of a register value, other fields dropped.
    pub fn index(&self, register: u32) -> u32 {
        register & ((self.wrap_bit() << 1) - 1)
    }

    /// The entry a register value points to.
    pub fn slot(&self, register: u32) -> usize {
        (register & (self.wrap_bit() - 1)) as usize
    }

    /// Whether the wrap bit is set.
    pub fn wrapped(&self, register: u32) -> bool {
        register & self.wrap_bit() != 0
    }

    /// The index after `register`: the slot plus one, toggling the wrap bit at the end.
    pub fn next(&self, register: u32) -> u32 {
        self.index(self.index(register).wrapping_add(1))
    }

    /// No entries between CONS and PROD.
    pub fn is_empty(&self, prod: u32, cons: u32) -> bool {
        self.index(prod) == self.index(cons)
    }

    /// Every slot holds an entry the consumer has not taken.
    pub fn is_full(&self, prod: u32, cons: u32) -> bool {
        self.index(prod) ^ self.index(cons) == self.wrap_bit()
    }

    /// Entries between CONS and PROD.
    pub fn occupied(&self, prod: u32, cons: u32) -> u32 {
        let span = self.wrap_bit() << 1;
        self.index(prod).wrapping_sub(self.index(cons)) & (span - 1)
    }
}

/// The SMMU dropped event records since software last acknowledged an overflow.
pub fn event_queue_overflowed(prod: u32, cons: u32) -> bool {
    (prod & EVENTQ_PROD_OVFLG != 0) != (cons & EVENTQ_CONS_OVACKFLG != 0)
}

/// EVENTQ_CONS value that consumes up to `cons_index` and acknowledges any overflow seen in `prod`.
pub fn event_queue_cons(queue: &QueueIndex, cons_index: u32, prod: u32) -> u32 {
    queue.index(cons_index) | (prod & EVENTQ_PROD_OVFLG)
}
