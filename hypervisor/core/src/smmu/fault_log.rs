//! Deduplication of DMA fault reports: one console line per (partition, device, page), counts for the rest.
//!
//! A misbehaving device can fault millions of times a second; the event
//! handler must neither flood the console nor allocate. All storage is
//! reserved at boot; a full log keeps counting without remembering new keys.

use alloc::vec;
use alloc::vec::Vec;

/// What the event handler should do with a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// First fault for this (partition, stream, page): report it.
    First,
    /// Seen before: counted only.
    Repeat,
    /// The log is full, so the fault is only counted; `report_full` is true
    /// the first time, to say once that further faults go unreported.
    Unlogged { report_full: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    partition: usize,
    stream_id: u32,
    page: u64,
}

/// A fixed-capacity set of reported faults and a fault count per partition.
#[derive(Clone, Debug)]
pub struct FaultLog {
    keys: Vec<Key>,
    /// Keys in use: `keys[..used]`.
    used: usize,
    counts: Vec<u64>,
    /// Faults from partitions outside `counts` (never expected: a bug guard).
    stray: u64,
    full_reported: bool,
}

impl FaultLog {
    /// Allocates room for `entries` distinct faults and `partitions` counters; nothing later allocates.
    pub fn with_capacity(entries: usize, partitions: usize) -> FaultLog {
        let empty = Key {
            partition: 0,
            stream_id: 0,
            page: 0,
        };
        FaultLog {
            keys: vec![empty; entries],
            used: 0,
            counts: vec![0; partitions],
            stray: 0,
            full_reported: false,
        }
    }

    /// Counts one fault and says whether to report it.
    pub fn record(&mut self, partition: usize, stream_id: u32, page: u64) -> Recorded {
        match self.counts.get_mut(partition) {
            Some(count) => *count = count.saturating_add(1),
            None => self.stray = self.stray.saturating_add(1),
        }
        let key = Key {
            partition,
            stream_id,
            page,
        };
        let used = &self.keys[..self.used.min(self.keys.len())];
        if used.contains(&key) {
            return Recorded::Repeat;
        }
        match self.keys.get_mut(self.used) {
            Some(slot) => {
                *slot = key;
                self.used += 1;
                Recorded::First
            }
            None => {
                let report_full = !self.full_reported;
                self.full_reported = true;
                Recorded::Unlogged { report_full }
            }
        }
    }

    /// Faults counted for `partition` (0 for an unknown partition).
    pub fn count(&self, partition: usize) -> u64 {
        self.counts.get(partition).copied().unwrap_or(0)
    }

    /// Faults counted for partitions the log was not sized for.
    pub fn stray_count(&self) -> u64 {
        self.stray
    }

    /// Distinct faults remembered.
    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    pub fn capacity(&self) -> usize {
        self.keys.len()
    }
}
