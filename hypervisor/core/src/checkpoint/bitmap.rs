//! Dirty-page bitmaps: one bit per 4 KiB page, and the pair that drives incremental checkpoints.

use alloc::vec;
use alloc::vec::Vec;

use super::error::StoreError;
use super::page_map::PageMap;
use super::store::Slot;
use crate::address::Ipa;

/// One bit per 4 KiB page of a partition's memory regions.
#[derive(Clone, Debug)]
pub struct DirtyBitmap {
    map: PageMap,
    words: Vec<u64>,
    /// Kept up to date by every operation so `count` is O(1).
    dirty: u64,
}

impl DirtyBitmap {
    /// A clean bitmap over `regions` (`(first IPA, size in bytes)`, see [`PageMap::new`]).
    pub fn new(regions: &[(Ipa, u64)]) -> Result<DirtyBitmap, StoreError> {
        Ok(DirtyBitmap::over(PageMap::new(regions)?))
    }

    /// A clean bitmap over an existing page numbering.
    pub fn over(map: PageMap) -> DirtyBitmap {
        let words = map.page_count().div_ceil(64);
        DirtyBitmap {
            words: vec![0; words as usize],
            map,
            dirty: 0,
        }
    }

    /// The page numbering this bitmap uses.
    pub fn page_map(&self) -> &PageMap {
        &self.map
    }

    /// Marks the page holding `ipa` dirty; `true` if it was clean before.
    /// An IPA outside the regions is ignored (returns `false`).
    pub fn mark(&mut self, ipa: Ipa) -> bool {
        match self.map.index_of(ipa) {
            Some(index) => self.mark_index(index),
            None => false,
        }
    }

    /// Marks page `index` dirty; `true` if it was clean before.
    #[inline]
    pub fn mark_index(&mut self, index: u64) -> bool {
        let bit = 1u64 << (index % 64);
        match self.words.get_mut((index / 64) as usize) {
            Some(word) if *word & bit == 0 => {
                *word |= bit;
                self.dirty += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether the page holding `ipa` is dirty (`false` outside the regions).
    pub fn is_dirty(&self, ipa: Ipa) -> bool {
        self.map
            .index_of(ipa)
            .is_some_and(|index| self.is_dirty_index(index))
    }

    /// Whether page `index` is dirty.
    pub fn is_dirty_index(&self, index: u64) -> bool {
        self.words
            .get((index / 64) as usize)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    /// The first IPA of every dirty page, in page order; clean words cost one test each.
    pub fn iter_dirty(&self) -> DirtyIter<'_> {
        DirtyIter {
            bitmap: self,
            word_index: 0,
            word: self.words.first().copied().unwrap_or(0),
        }
    }

    /// How many pages are dirty.
    pub fn count(&self) -> u64 {
        self.dirty
    }

    /// How many pages the bitmap covers.
    pub fn page_count(&self) -> u64 {
        self.map.page_count()
    }

    /// Marks every page clean.
    pub fn clear(&mut self) {
        self.words.fill(0);
        self.dirty = 0;
    }

    /// Marks every page dirty.
    pub fn set_all(&mut self) {
        self.words.fill(u64::MAX);
        let pages = self.map.page_count();
        // Bits past the last page stay clear so iteration never yields them.
        if !pages.is_multiple_of(64) {
            if let Some(last) = self.words.last_mut() {
                *last = (1u64 << (pages % 64)) - 1;
            }
        }
        self.dirty = pages;
    }
}

/// Iterator over the dirty pages of a [`DirtyBitmap`].
pub struct DirtyIter<'a> {
    bitmap: &'a DirtyBitmap,
    word_index: usize,
    /// The bits of the current word not yet yielded.
    word: u64,
}

impl<'a> DirtyIter<'a> {
    /// The next dirty page's index.
    #[inline]
    fn next_index(&mut self) -> Option<u64> {
        while self.word == 0 {
            self.word_index += 1;
            self.word = *self.bitmap.words.get(self.word_index)?;
        }
        let bit = self.word.trailing_zeros() as u64;
        self.word &= self.word - 1;
        Some(self.word_index as u64 * 64 + bit)
    }

    /// The dirty pages' indices in the page numbering (which the store
    /// and the other bitmap of a tracker share): callers look pages up by
    /// index instead of searching the regions again, and find a page's IPA
    /// ([`PageMap::ipa_of`]) only where they need it.
    pub fn indices(self) -> DirtyIndices<'a> {
        DirtyIndices(self)
    }
}

impl Iterator for DirtyIter<'_> {
    type Item = Ipa;

    fn next(&mut self) -> Option<Ipa> {
        let index = self.next_index()?;
        self.bitmap.map.ipa_of(index)
    }
}

/// [`DirtyIter::indices`]: the index of each dirty page.
pub struct DirtyIndices<'a>(DirtyIter<'a>);

impl Iterator for DirtyIndices<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        self.0.next_index()
    }
}

/// The two bitmaps behind incremental checkpoints: pages written since slot A
/// was last committed, and since slot B was.
///
/// Both start all dirty (nothing in the store matches memory yet). A write
/// fault marks both. Checkpointing into a slot copies that slot's dirty pages
/// and then [`committed`](Self::committed) clears them; restoring from a slot
/// copies back that slot's dirty pages and [`restored`](Self::restored) clears
/// them. The other slot's bitmap needs no change in either case: it already
/// holds every page written since that slot was committed, a superset of
/// what the restore rewrote.
#[derive(Clone, Debug)]
pub struct DirtyTracker {
    since: [DirtyBitmap; 2],
}

impl DirtyTracker {
    /// A tracker over `regions` with every page dirty for both slots.
    pub fn new(regions: &[(Ipa, u64)]) -> Result<DirtyTracker, StoreError> {
        let mut a = DirtyBitmap::new(regions)?;
        a.set_all();
        let b = a.clone();
        Ok(DirtyTracker { since: [a, b] })
    }

    /// Records a guest write to the page holding `ipa`: whether the page
    /// was clean for either slot (the first write since a checkpoint), or
    /// `None` if `ipa` is outside the tracked memory.
    #[inline]
    pub fn mark(&mut self, ipa: Ipa) -> Option<bool> {
        let [a, b] = &mut self.since;
        // Both bitmaps index the same regions: one lookup serves both.
        let index = a.map.index_of(ipa)?;
        let first = a.mark_index(index);
        Some(b.mark_index(index) || first)
    }

    /// The pages written since `slot` was last committed or restored from:
    /// the pages to copy when checkpointing into `slot`, or to copy back when
    /// restoring from it.
    pub fn since(&self, slot: Slot) -> &DirtyBitmap {
        &self.since[slot.index()]
    }

    /// A checkpoint into `slot` completed: it now equals memory.
    pub fn committed(&mut self, slot: Slot) {
        self.since[slot.index()].clear();
    }

    /// Memory was restored from `slot`: it now equals the slot.
    pub fn restored(&mut self, slot: Slot) {
        self.since[slot.index()].clear();
    }

    /// `slot` cannot serve as a base (see [`super::Writer::needs_every_page`]):
    /// the next checkpoint into it must copy every page.
    pub fn invalidate(&mut self, slot: Slot) {
        self.since[slot.index()].set_all();
    }
}
