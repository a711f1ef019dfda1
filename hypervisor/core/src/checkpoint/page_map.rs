//! Numbering of a partition's 4 KiB pages across its memory regions (IPA <-> page index).

use alloc::vec::Vec;

use super::error::StoreError;
use super::format::MAX_REGIONS;
use crate::address::{is_aligned, ranges_overlap, Ipa, PAGE_SIZE};

/// One region's pages, numbered `first_index..first_index + pages`, from IPA `start` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRun {
    pub first_index: u64,
    pub pages: u64,
    pub start: Ipa,
}

impl PageRun {
    /// Page `index`'s byte offset from the run's start, if the run holds it.
    #[inline(always)]
    pub fn offset_of(&self, index: u64) -> Option<u64> {
        let page = index.checked_sub(self.first_index)?;
        (page < self.pages).then_some(page * PAGE_SIZE)
    }

    /// The run's length in bytes.
    pub fn bytes(&self) -> u64 {
        self.pages * PAGE_SIZE
    }
}

/// The pages of a partition's memory regions, numbered `0..page_count()` in
/// region order (the order the layout lists them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageMap {
    regions: Vec<PageRun>,
    pages: u64,
}

impl PageMap {
    /// Numbers the pages of `regions` (`(first IPA, size in bytes)`): each must
    /// be non-empty, 4 KiB aligned in start and size, not wrap, and not
    /// overlap another. At most [`MAX_REGIONS`], which the store header holds.
    pub fn new(regions: &[(Ipa, u64)]) -> Result<PageMap, StoreError> {
        if regions.len() > MAX_REGIONS {
            return Err(StoreError::TooManyRegions {
                count: regions.len(),
                max: MAX_REGIONS,
            });
        }
        let mut numbered = Vec::with_capacity(regions.len());
        let mut pages = 0u64;
        for (i, &(start, size)) in regions.iter().enumerate() {
            if size == 0 {
                return Err(StoreError::RegionEmpty { ipa: start });
            }
            if !is_aligned(start.0, PAGE_SIZE) || !is_aligned(size, PAGE_SIZE) {
                return Err(StoreError::RegionMisaligned { ipa: start, size });
            }
            if start.checked_add(size).is_none() {
                return Err(StoreError::RegionWraps { ipa: start, size });
            }
            if let Some(&(other, _)) = regions[..i]
                .iter()
                .find(|&&(other, other_size)| ranges_overlap(start.0, size, other.0, other_size))
            {
                return Err(StoreError::RegionsOverlap {
                    first: other,
                    second: start,
                });
            }
            numbered.push(PageRun {
                start,
                pages: size / PAGE_SIZE,
                first_index: pages,
            });
            pages += size / PAGE_SIZE;
        }
        Ok(PageMap {
            regions: numbered,
            pages,
        })
    }

    /// How many 4 KiB pages the regions hold.
    pub fn page_count(&self) -> u64 {
        self.pages
    }

    /// The regions as `(first IPA, size in bytes)`, in order.
    pub fn regions(&self) -> impl Iterator<Item = (Ipa, u64)> + '_ {
        self.regions.iter().map(|r| (r.start, r.bytes()))
    }

    /// The index of the page holding `ipa` (any byte of it), or `None` if
    /// `ipa` is outside every region. Linear in the (few) regions, constant
    /// in the number of pages.
    #[inline]
    pub fn index_of(&self, ipa: Ipa) -> Option<u64> {
        self.regions.iter().find_map(|r| {
            let page = ipa.0.checked_sub(r.start.0)? / PAGE_SIZE;
            (page < r.pages).then_some(r.first_index + page)
        })
    }

    /// The region holding page `index` as a run of pages, or `None` if
    /// there is no such page: a walk over dirty pages in index order finds
    /// most of them in the run it found last.
    pub fn run_of(&self, index: u64) -> Option<PageRun> {
        self.regions
            .iter()
            .find(|run| run.offset_of(index).is_some())
            .copied()
    }

    /// The first IPA of page `index`, or `None` if there is no such page.
    pub fn ipa_of(&self, index: u64) -> Option<Ipa> {
        let run = self.run_of(index)?;
        Some(Ipa(run.start.0 + run.offset_of(index)?))
    }
}
