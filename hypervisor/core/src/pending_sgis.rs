//! A vCPU's virtual SGIs waiting for a list register, each with the vCPU that sent it.
//!
//! A GICv2 guest reads an SGI's source CPU in GICC_IAR (bits 12:10) and
//! the same SGI from two sources is two interrupts; a GICv3 guest sees no
//! source (Bulkhead marks them all from source 0 there). So the set is
//! 16 SGIs × 8 sources: bit `8 * (sgi % 8) + source` of word `sgi / 8`.
//! Senders mark on any core; the vCPU's own core takes them into its list
//! registers and puts back what did not fit.

use core::sync::atomic::{AtomicU64, Ordering};

/// Sources a GICv2 can name (CPU interfaces 0..7).
pub const SOURCES: u32 = 8;

/// One (SGI, source) pair of a [`Taken`] set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingSgi {
    pub sgi: u32,
    pub source: u8,
}

/// The pending set as two words (what a snapshot saves).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Taken(pub [u64; 2]);

impl Taken {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.0 == [0, 0]
    }

    /// Adds `sgi` from `source` (SGIs above 15 and sources above 7 are cut
    /// to their low bits, as the GIC's fields are).
    #[inline]
    pub fn insert(&mut self, pending: PendingSgi) {
        let (word, bit) = position(pending.sgi, pending.source);
        self.0[word] |= bit;
    }

    /// The sources `sgi` is pending from (bit n: source n).
    #[inline]
    pub fn sources(&self, sgi: u32) -> u8 {
        let (word, bit) = position(sgi, 0);
        ((self.0[word] / bit) & 0xff) as u8
    }

    /// Both sets' pairs.
    pub fn union(self, other: Taken) -> Taken {
        Taken([self.0[0] | other.0[0], self.0[1] | other.0[1]])
    }

    /// Each pair, SGI by SGI, source by source.
    #[inline]
    pub fn iter(&self) -> Pairs {
        Pairs {
            words: self.0,
            word: 0,
        }
    }
}

/// The pairs of a [`Taken`], in order (see [`Taken::iter`]).
pub struct Pairs {
    words: [u64; 2],
    word: usize,
}

impl Iterator for Pairs {
    type Item = PendingSgi;

    #[inline]
    fn next(&mut self) -> Option<PendingSgi> {
        while self.word < self.words.len() {
            let bits = &mut self.words[self.word];
            if *bits != 0 {
                let bit = bits.trailing_zeros();
                *bits &= *bits - 1;
                return Some(PendingSgi {
                    sgi: self.word as u32 * 8 + bit / SOURCES,
                    source: (bit % SOURCES) as u8,
                });
            }
            self.word += 1;
        }
        None
    }
}

#[inline]
fn position(sgi: u32, source: u8) -> (usize, u64) {
    let sgi = sgi & 0xf;
    let source = u32::from(source) % SOURCES;
    ((sgi / 8) as usize, 1u64 << ((sgi % 8) * SOURCES + source))
}

/// The set, shared between the senders' cores and the vCPU's own.
#[derive(Debug, Default)]
pub struct PendingSgis([AtomicU64; 2]);

impl PendingSgis {
    pub const fn new() -> PendingSgis {
        PendingSgis([AtomicU64::new(0), AtomicU64::new(0)])
    }

    /// Marks `sgi` pending from `source`.
    #[inline]
    pub fn mark(&self, sgi: u32, source: u8) {
        let (word, bit) = position(sgi, source);
        self.0[word].fetch_or(bit, Ordering::AcqRel);
    }

    /// Takes every pending pair.
    #[inline]
    pub fn take(&self) -> Taken {
        Taken(self.0.each_ref().map(|word| word.swap(0, Ordering::AcqRel)))
    }

    /// Puts pairs back (those that found no free list register).
    #[inline]
    pub fn put_back(&self, taken: Taken) {
        for (word, bits) in self.0.iter().zip(taken.0) {
            if bits != 0 {
                word.fetch_or(bits, Ordering::AcqRel);
            }
        }
    }

    /// Withdraws the pairs of `taken` that are still waiting.
    pub fn clear(&self, taken: Taken) {
        for (word, bits) in self.0.iter().zip(taken.0) {
            if bits != 0 {
                word.fetch_and(!bits, Ordering::AcqRel);
            }
        }
    }

    /// What is pending, without taking it (for a snapshot).
    pub fn load(&self) -> Taken {
        Taken(self.0.each_ref().map(|word| word.load(Ordering::Acquire)))
    }

    /// Replaces the set (a restore, or a reset with `Taken::default()`).
    pub fn store(&self, taken: Taken) {
        for (word, bits) in self.0.iter().zip(taken.0) {
            word.store(bits, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn each_sgi_and_source_is_kept_apart_and_comes_back_in_order() {
        let pending = PendingSgis::new();
        pending.mark(9, 3);
        pending.mark(1, 0);
        pending.mark(1, 7);
        pending.mark(1, 0);
        let taken: Vec<_> = pending.take().iter().map(|p| (p.sgi, p.source)).collect();
        assert_eq!(taken, [(1, 0), (1, 7), (9, 3)]);
        assert!(pending.take().is_empty());
    }

    #[test]
    fn every_pair_round_trips_and_out_of_range_fields_are_cut() {
        for sgi in 0..16 {
            for source in 0..8u8 {
                let mut taken = Taken::default();
                taken.insert(PendingSgi { sgi, source });
                assert_eq!(
                    taken.iter().collect::<Vec<_>>(),
                    [PendingSgi { sgi, source }]
                );
            }
        }
        let pending = PendingSgis::new();
        pending.mark(16 + 2, 8 + 1);
        assert_eq!(
            pending.take().iter().collect::<Vec<_>>(),
            [PendingSgi { sgi: 2, source: 1 }]
        );
    }

    #[test]
    fn put_back_and_store_merge_and_replace() {
        let pending = PendingSgis::new();
        pending.mark(4, 1);
        let mut left = Taken::default();
        left.insert(PendingSgi { sgi: 12, source: 2 });
        pending.put_back(left);
        assert_eq!(pending.load().iter().count(), 2);
        pending.store(Taken::default());
        assert!(pending.load().is_empty());
    }

    #[test]
    fn sources_clear_and_union_work_per_pair() {
        let pending = PendingSgis::new();
        pending.mark(9, 3);
        pending.mark(9, 0);
        pending.mark(2, 5);
        assert_eq!(pending.load().sources(9), 0b1001);
        assert_eq!(pending.load().sources(2), 0b10_0000);
        let mut gone = Taken::default();
        gone.insert(PendingSgi { sgi: 9, source: 3 });
        pending.clear(gone);
        assert_eq!(pending.load().sources(9), 0b0001);
        assert_eq!(pending.load().union(gone).sources(9), 0b1001);
    }
}
