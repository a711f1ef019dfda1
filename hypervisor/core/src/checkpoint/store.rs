//! The double-buffered checkpoint store over a byte region: writing, finding, verifying, reading.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use core::sync::atomic::{compiler_fence, Ordering};

use super::bitmap::{DirtyBitmap, DirtyIter};
use super::checksum::{checksum, page_term, PageKernel, PortableKernel, PAGE_BYTES};
use super::error::StoreError;
use super::format::*;
use super::page_map::PageMap;
use crate::address::{is_aligned, Ipa, PAGE_SIZE};

/// One of the store's two slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    /// Both slots, in store order.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// A checkpoint's generation number: each new checkpoint's is higher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Generation(pub u64);

/// What the header of a complete slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    pub slot: Slot,
    pub generation: Generation,
    pub vcpu_count: u64,
    pub page_count: u64,
    /// Counter ticks when the checkpoint was taken, as given to [`CheckpointStore::begin`].
    pub taken_at: u64,
}

/// The checkpoint store of one partition, over the bytes of its reserved region.
///
/// Every value read from the store is checked before use: the store lives in
/// RAM that a bug could scribble on, and a bad store must give an error,
/// never a panic.
pub struct CheckpointStore<'a> {
    bytes: &'a mut [u8],
    map: PageMap,
    geometry: Geometry,
    /// Pages written by the checkpoint in progress (reused between checkpoints).
    written: DirtyBitmap,
    /// vCPU states written by the checkpoint in progress.
    vcpus_written: Vec<bool>,
}

impl<'a> CheckpointStore<'a> {
    /// Formats `bytes` as an empty store for a partition with memory
    /// `regions` (`(first IPA, size in bytes)`, in layout order) and `vcpus`
    /// vCPUs. `bytes` must hold at least [`store_size`] bytes; any more are unused.
    pub fn format(
        bytes: &'a mut [u8],
        regions: &[(Ipa, u64)],
        vcpus: usize,
    ) -> Result<CheckpointStore<'a>, StoreError> {
        let mut store = CheckpointStore::attach(bytes, regions, vcpus)?;
        for slot in Slot::ALL {
            store.write_empty_header(slot)?;
        }
        Ok(store)
    }

    /// Like [`format`](Self::format), but keeps the slots whose headers
    /// already describe this partition (a store that survived a partition
    /// reset); the others are formatted empty.
    pub fn open(
        bytes: &'a mut [u8],
        regions: &[(Ipa, u64)],
        vcpus: usize,
    ) -> Result<CheckpointStore<'a>, StoreError> {
        let mut store = CheckpointStore::attach(bytes, regions, vcpus)?;
        for slot in Slot::ALL {
            let keep = store
                .header(slot)
                .is_ok_and(|header| store.describes_partition(header));
            if !keep {
                store.write_empty_header(slot)?;
            }
        }
        Ok(store)
    }

    fn attach(
        bytes: &'a mut [u8],
        regions: &[(Ipa, u64)],
        vcpus: usize,
    ) -> Result<CheckpointStore<'a>, StoreError> {
        let map = PageMap::new(regions)?;
        let geometry = Geometry::new(map.page_count(), vcpus as u64)?;
        let needed = geometry
            .slot_size
            .checked_mul(2)
            .ok_or(StoreError::SizeOverflow)?;
        let have = bytes.len() as u64;
        if have < needed {
            return Err(StoreError::TooSmall { needed, have });
        }
        Ok(CheckpointStore {
            bytes,
            written: DirtyBitmap::over(map.clone()),
            map,
            geometry,
            vcpus_written: vec![false; vcpus],
        })
    }

    /// The page numbering of the partition's memory.
    pub fn page_map(&self) -> &PageMap {
        &self.map
    }

    /// The state `slot`'s header claims, or `None` if the header is not a
    /// header of this store format.
    pub fn slot_state(&self, slot: Slot) -> Option<SlotState> {
        let header = self.header(slot).ok()?;
        if read_u64(header, OFFSET_MAGIC).ok()? != MAGIC {
            return None;
        }
        SlotState::from_word(read_u32(header, OFFSET_STATE).ok()?)
    }

    /// The complete checkpoint in `slot`, judged by its header alone (see
    /// [`verify`](Self::verify) for the contents).
    pub fn info(&self, slot: Slot) -> Option<CheckpointInfo> {
        let header = self.header(slot).ok()?;
        if !self.describes_partition(header)
            || read_u32(header, OFFSET_STATE).ok()? != SlotState::Complete as u32
        {
            return None;
        }
        Some(CheckpointInfo {
            slot,
            generation: Generation(read_u64(header, OFFSET_GENERATION).ok()?),
            vcpu_count: self.geometry.vcpus,
            page_count: self.geometry.pages,
            taken_at: read_u64(header, OFFSET_TAKEN_AT).ok()?,
        })
    }

    /// The current checkpoint: the complete slot with the highest generation.
    pub fn current(&self) -> Option<CheckpointInfo> {
        Slot::ALL
            .into_iter()
            .filter_map(|slot| self.info(slot))
            .max_by_key(|info| info.generation)
    }

    /// Starts a checkpoint with `generation` (higher than the current one's)
    /// taken at `taken_at` counter ticks. It goes into the slot that is not
    /// current, which is marked `Writing` first; the current checkpoint stays
    /// current until [`Writer::finish`].
    pub fn begin(
        &mut self,
        generation: Generation,
        taken_at: u64,
    ) -> Result<Writer<'_, 'a>, StoreError> {
        let current = self.current();
        if let Some(current) = current {
            if generation <= current.generation {
                return Err(StoreError::GenerationNotNewer {
                    requested: generation.0,
                    current: current.generation.0,
                });
            }
        }
        let slot = current.map_or(Slot::A, |current| current.slot.other());
        // A complete slot with an intact header is a full image the new
        // checkpoint can overwrite page by page; anything else is not.
        let base_valid = self.info(slot).is_some() && self.header_checksum_ok(slot)?;
        let page_sum = if base_valid {
            read_u64(self.header(slot)?, OFFSET_PAGE_SUM)?
        } else {
            0
        };
        // The current checkpoint, if its header is intact: its records can
        // be inherited and its frames must not be written.
        let current = match current {
            Some(current) if self.header_checksum_ok(current.slot)? => Some(current.slot),
            _ => None,
        };
        let state = self.header_offset(slot, OFFSET_STATE)?;
        write_u32(self.bytes, state, SlotState::Writing as u32)?;
        // The slot must read as Writing before any of its contents change.
        compiler_fence(Ordering::SeqCst);
        self.written.clear();
        self.vcpus_written.fill(false);
        Ok(Writer {
            store: self,
            slot,
            current,
            generation,
            taken_at,
            base_valid,
            page_sum,
        })
    }

    /// Checks `slot` entirely: header, every vCPU state, every page against
    /// its record, and the records against the header's page sum.
    pub fn verify(&self, slot: Slot) -> Result<(), StoreError> {
        self.verify_header(slot)?;
        self.verify_vcpus(slot)?;
        let mut page_sum = 0u64;
        for index in 0..self.geometry.pages {
            let ipa = self
                .map
                .ipa_of(index)
                .ok_or(StoreError::OutOfBounds { offset: index })?;
            let (word, page_checksum) = self.check_page(slot, index, ipa)?;
            page_sum = page_sum.wrapping_add(page_term(word, page_checksum));
        }
        if page_sum != read_u64(self.header(slot)?, OFFSET_PAGE_SUM)? {
            return Err(StoreError::PageSumMismatch { slot });
        }
        Ok(())
    }

    /// Checks what a restore from `slot` reads: the header, every vCPU state,
    /// and the pages listed (those about to be copied back). Cheaper than
    /// [`verify`](Self::verify) when few pages were dirtied, and enough for
    /// the restore to be correct, since no other stored page is read.
    pub fn verify_pages(
        &self,
        slot: Slot,
        pages: impl IntoIterator<Item = Ipa>,
    ) -> Result<(), StoreError> {
        self.verify_pages_with(slot, pages, &mut PortableKernel)
    }

    /// [`verify_pages`](Self::verify_pages), checksumming pages with `kernel`.
    pub fn verify_pages_with(
        &self,
        slot: Slot,
        pages: impl IntoIterator<Item = Ipa>,
        kernel: &mut impl PageKernel,
    ) -> Result<(), StoreError> {
        self.verify_header(slot)?;
        self.verify_vcpus(slot)?;
        for ipa in pages {
            let index = self.page_index(ipa)?;
            self.check_page_with(slot, index, ipa, kernel)?;
        }
        Ok(())
    }

    /// vCPU `index`'s saved state in `slot`.
    pub fn vcpu_state(&self, slot: Slot, index: usize) -> Result<&[u8], StoreError> {
        if index as u64 >= self.geometry.vcpus {
            return Err(StoreError::VcpuOutOfRange {
                index,
                count: self.geometry.vcpus,
            });
        }
        let entry = OFFSET_VCPU_TABLE + index * ENTRY_SIZE;
        let length = read_u32(self.header(slot)?, entry)? as usize;
        if length > VCPU_STATE_MAX {
            return Err(StoreError::VcpuStateCorrupt { slot, index });
        }
        let area = self.slot_range(slot, vcpu_area_offset(index), length as u64)?;
        self.bytes.get(area.clone()).ok_or(StoreError::OutOfBounds {
            offset: area.start as u64,
        })
    }

    /// The stored copy of the page at `ipa` (4 KiB aligned) in `slot`, or
    /// `None` if `ipa` is not the start of a page of the partition.
    pub fn page(&self, slot: Slot, ipa: Ipa) -> Option<&[u8; 4096]> {
        let index = self.page_index(ipa).ok()?;
        let frame = self.record_frame(slot, index).ok()?;
        let data = self.page_data_range(frame, index).ok()?;
        self.bytes.get(data)?.try_into().ok()
    }

    /// The pages a restore copies back: those written since the current
    /// checkpoint, which the tracker's bitmap for the current slot holds
    /// ([`super::DirtyTracker::since`]). Every other page already equals the
    /// checkpoint.
    pub fn pages_to_restore<'b>(&self, dirty_since_checkpoint: &'b DirtyBitmap) -> DirtyIter<'b> {
        dirty_since_checkpoint.iter_dirty()
    }

    /// TEST ONLY: flips a bit of the stored page at `ipa` in `slot`, so that
    /// tests and the test-only corruption hook can check that restore refuses.
    pub fn corrupt_page_for_test(&mut self, slot: Slot, ipa: Ipa) -> Result<(), StoreError> {
        let index = self.page_index(ipa)?;
        let frame = self.record_frame(slot, index)?;
        let data = self.page_data_range(frame, index)?;
        let offset = data.start as u64;
        let byte = self
            .bytes
            .get_mut(data.start)
            .ok_or(StoreError::OutOfBounds { offset })?;
        *byte ^= 1;
        Ok(())
    }

    fn page_index(&self, ipa: Ipa) -> Result<u64, StoreError> {
        if !is_aligned(ipa.0, PAGE_SIZE) {
            return Err(StoreError::PageMisaligned { ipa });
        }
        self.map
            .index_of(ipa)
            .ok_or(StoreError::NotInMemory { ipa })
    }

    /// Compares page `index` (at `ipa`) with its record; returns the
    /// record's first word (IPA and frame) and the page's checksum.
    fn check_page(&self, slot: Slot, index: u64, ipa: Ipa) -> Result<(u64, u64), StoreError> {
        self.check_page_with(slot, index, ipa, &mut PortableKernel)
    }

    /// [`check_page`](Self::check_page), checksumming with `kernel`.
    fn check_page_with(
        &self,
        slot: Slot,
        index: u64,
        ipa: Ipa,
        kernel: &mut impl PageKernel,
    ) -> Result<(u64, u64), StoreError> {
        let record = self.record_offset(slot, index)?;
        let word = read_u64(self.bytes, record)?;
        if word & !FRAME_BIT != ipa.0 {
            return Err(StoreError::RecordCorrupt { slot, ipa });
        }
        let stored = read_u64(self.bytes, record + 8)?;
        let data = self.page_data_range(frame_of(word), index)?;
        let offset = data.start as u64;
        let bytes: &[u8; PAGE_BYTES] = self
            .bytes
            .get(data)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(StoreError::OutOfBounds { offset })?;
        if kernel.checksum(bytes) != stored {
            return Err(StoreError::PageCorrupt { slot, ipa });
        }
        Ok((word, stored))
    }

    /// The frame `slot`'s record of page `index` names.
    #[inline(always)]
    fn record_frame(&self, slot: Slot, index: u64) -> Result<Slot, StoreError> {
        let record = self.record_offset(slot, index)?;
        Ok(frame_of(read_u64(self.bytes, record)?))
    }

    /// `slot`'s record of page `index`: its first word and the checksum.
    #[inline(always)]
    fn record(&self, slot: Slot, index: u64) -> Result<[u64; 2], StoreError> {
        let range = self.record_range(slot, index)?;
        let offset = range.start as u64;
        self.bytes
            .get(range)
            .and_then(record_words)
            .ok_or(StoreError::OutOfBounds { offset })
    }

    #[inline(always)]
    fn record_range(&self, slot: Slot, index: u64) -> Result<Range<usize>, StoreError> {
        let offset = self.geometry.records_offset + index * RECORD_SIZE;
        self.slot_range(slot, offset, RECORD_SIZE)
    }

    fn verify_header(&self, slot: Slot) -> Result<(), StoreError> {
        let header = self.header(slot)?;
        let mismatch = |field| Err(StoreError::HeaderMismatch { slot, field });
        if read_u64(header, OFFSET_MAGIC)? != MAGIC {
            return mismatch("magic");
        }
        if read_u32(header, OFFSET_VERSION)? != FORMAT_VERSION {
            return mismatch("version");
        }
        if read_u32(header, OFFSET_STATE)? != SlotState::Complete as u32 {
            return Err(StoreError::SlotNotComplete { slot });
        }
        if u64::from(read_u32(header, OFFSET_VCPU_COUNT)?) != self.geometry.vcpus {
            return mismatch("vCPU count");
        }
        if read_u64(header, OFFSET_PAGE_COUNT)? != self.geometry.pages {
            return mismatch("page count");
        }
        if !self.regions_match(header) {
            return mismatch("regions");
        }
        if !self.header_checksum_ok(slot)? {
            return Err(StoreError::HeaderCorrupt { slot });
        }
        Ok(())
    }

    fn verify_vcpus(&self, slot: Slot) -> Result<(), StoreError> {
        for index in 0..self.geometry.vcpus as usize {
            let state = self.vcpu_state(slot, index)?;
            let entry = OFFSET_VCPU_TABLE + index * ENTRY_SIZE;
            if checksum(state) != read_u64(self.header(slot)?, entry + 8)? {
                return Err(StoreError::VcpuStateCorrupt { slot, index });
            }
        }
        Ok(())
    }

    /// Whether `header` is this format's and describes this partition
    /// (vCPU and page counts, regions), whatever its state.
    fn describes_partition(&self, header: &[u8]) -> bool {
        read_u64(header, OFFSET_MAGIC) == Ok(MAGIC)
            && read_u32(header, OFFSET_VERSION) == Ok(FORMAT_VERSION)
            && read_u32(header, OFFSET_VCPU_COUNT).map(u64::from) == Ok(self.geometry.vcpus)
            && read_u64(header, OFFSET_PAGE_COUNT) == Ok(self.geometry.pages)
            && self.regions_match(header)
    }

    fn regions_match(&self, header: &[u8]) -> bool {
        let count = self.map.regions().count();
        if read_u32(header, OFFSET_REGION_COUNT) != Ok(count as u32) {
            return false;
        }
        self.map.regions().enumerate().all(|(i, (ipa, size))| {
            let entry = OFFSET_REGIONS + i * ENTRY_SIZE;
            read_u64(header, entry) == Ok(ipa.0) && read_u64(header, entry + 8) == Ok(size)
        })
    }

    fn header_checksum_ok(&self, slot: Slot) -> Result<bool, StoreError> {
        let header = self.header(slot)?;
        Ok(header_checksum(header, self.geometry.vcpus)? == read_u64(header, OFFSET_CHECKSUM)?)
    }

    fn write_empty_header(&mut self, slot: Slot) -> Result<(), StoreError> {
        let range = self.slot_range(slot, 0, HEADER_SIZE)?;
        let offset = range.start as u64;
        let header = self
            .bytes
            .get_mut(range)
            .ok_or(StoreError::OutOfBounds { offset })?;
        header.fill(0);
        write_u64(header, OFFSET_MAGIC, MAGIC)?;
        write_u32(header, OFFSET_VERSION, FORMAT_VERSION)?;
        write_u32(header, OFFSET_STATE, SlotState::Empty as u32)
    }

    fn header(&self, slot: Slot) -> Result<&[u8], StoreError> {
        let range = self.slot_range(slot, 0, HEADER_SIZE)?;
        let offset = range.start as u64;
        self.bytes
            .get(range)
            .ok_or(StoreError::OutOfBounds { offset })
    }

    fn header_offset(&self, slot: Slot, field: usize) -> Result<usize, StoreError> {
        Ok(self.slot_range(slot, field as u64, 0)?.start)
    }

    #[inline(always)]
    fn record_offset(&self, slot: Slot, index: u64) -> Result<usize, StoreError> {
        let offset = self.geometry.records_offset + index * RECORD_SIZE;
        Ok(self.slot_range(slot, offset, RECORD_SIZE)?.start)
    }

    /// Page `index`'s place in `frame` (the data area of that slot).
    #[inline(always)]
    fn page_data_range(&self, frame: Slot, index: u64) -> Result<Range<usize>, StoreError> {
        self.slot_range(
            frame,
            self.geometry.data_offset + index * PAGE_SIZE,
            PAGE_SIZE,
        )
    }

    /// The store byte range `[offset, offset + length)` of `slot`; the
    /// geometry was checked against the store's size, so this only fails on a bug.
    #[inline(always)]
    fn slot_range(&self, slot: Slot, offset: u64, length: u64) -> Result<Range<usize>, StoreError> {
        let start = (slot.index() as u64)
            .checked_mul(self.geometry.slot_size)
            .and_then(|base| base.checked_add(offset))
            .ok_or(StoreError::OutOfBounds { offset })?;
        let end = start
            .checked_add(length)
            .filter(|&end| end <= self.bytes.len() as u64)
            .ok_or(StoreError::OutOfBounds { offset: start })?;
        Ok(start as usize..end as usize)
    }
}

/// A checkpoint being written; dropping it without [`finish`](Self::finish)
/// abandons it and leaves the previous checkpoint current.
pub struct Writer<'s, 'a> {
    store: &'s mut CheckpointStore<'a>,
    slot: Slot,
    /// The current checkpoint (the other slot) when writing began, if its
    /// header was intact: the frames its records name are never written,
    /// and its records may be inherited.
    current: Option<Slot>,
    generation: Generation,
    taken_at: u64,
    /// Whether the slot held a complete image when writing began.
    base_valid: bool,
    /// The page sum as it stands with the pages written so far.
    page_sum: u64,
}

impl Writer<'_, '_> {
    /// The slot being written.
    pub fn slot(&self) -> Slot {
        self.slot
    }

    /// The generation this checkpoint will have.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Whether every page must be written: the slot held no complete image
    /// (never used, or a checkpoint into it was abandoned), so the tracker's
    /// bitmap for it says nothing. The caller should then
    /// [`invalidate`](super::DirtyTracker::invalidate) it and copy everything.
    pub fn needs_every_page(&self) -> bool {
        !self.base_valid
    }

    /// Saves vCPU `index`'s state as `fill` writes it straight into the
    /// store's area for it ([`VCPU_STATE_MAX`] bytes, returning the length
    /// used): no intermediate copy of a state that can be 9 KiB (SVE).
    pub fn write_vcpu_state_with(
        &mut self,
        index: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), StoreError> {
        let store = &mut *self.store;
        if index as u64 >= store.geometry.vcpus {
            return Err(StoreError::VcpuOutOfRange {
                index,
                count: store.geometry.vcpus,
            });
        }
        let area = store.slot_range(self.slot, vcpu_area_offset(index), VCPU_STATE_MAX as u64)?;
        let offset = area.start as u64;
        let bytes = store
            .bytes
            .get_mut(area)
            .ok_or(StoreError::OutOfBounds { offset })?;
        let length = fill(bytes).min(VCPU_STATE_MAX);
        let sum = checksum(&bytes[..length]);
        let entry = store.header_offset(self.slot, OFFSET_VCPU_TABLE + index * ENTRY_SIZE)?;
        write_u32(store.bytes, entry, length as u32)?;
        write_u32(store.bytes, entry + 4, 0)?;
        write_u64(store.bytes, entry + 8, sum)?;
        if let Some(written) = store.vcpus_written.get_mut(index) {
            *written = true;
        }
        Ok(())
    }

    /// Saves vCPU `index`'s state (at most [`VCPU_STATE_MAX`] bytes).
    pub fn write_vcpu_state(&mut self, index: usize, state: &[u8]) -> Result<(), StoreError> {
        if state.len() > VCPU_STATE_MAX {
            return Err(StoreError::VcpuStateTooLarge {
                index,
                length: state.len(),
                max: VCPU_STATE_MAX,
            });
        }
        self.write_vcpu_state_with(index, |area| {
            area[..state.len()].copy_from_slice(state);
            state.len()
        })
    }

    /// Saves the page at `ipa` (4 KiB aligned, inside the partition's memory).
    /// O(1) in the partition's size: the page sum is adjusted, not recomputed.
    pub fn write_page(&mut self, ipa: Ipa, page: &[u8; 4096]) -> Result<(), StoreError> {
        self.write_page_with(ipa, page, &mut PortableKernel)
    }

    /// [`write_page`](Self::write_page), copying and checksumming with `kernel`.
    ///
    /// The copy goes into the frame the current checkpoint does not use for
    /// this page (both when there is none), so the current one stays whole.
    pub fn write_page_with(
        &mut self,
        ipa: Ipa,
        page: &[u8; PAGE_BYTES],
        kernel: &mut impl PageKernel,
    ) -> Result<(), StoreError> {
        let index = self.store.page_index(ipa)?;
        self.write_page_at(index, ipa, page, kernel)
    }

    /// [`write_page_with`](Self::write_page_with) for page number `index`
    /// of the store's page map (the tracker's bitmaps share it), whose IPA
    /// is `ipa`: no region search.
    #[inline(always)]
    pub fn write_page_at(
        &mut self,
        index: u64,
        ipa: Ipa,
        page: &[u8; PAGE_BYTES],
        kernel: &mut impl PageKernel,
    ) -> Result<(), StoreError> {
        let frame = match self.current {
            Some(current) => self.store.record_frame(current, index)?.other(),
            None => self.slot,
        };
        let data = self.store.page_data_range(frame, index)?;
        let offset = data.start as u64;
        let destination: &mut [u8; PAGE_BYTES] = self
            .store
            .bytes
            .get_mut(data)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(StoreError::OutOfBounds { offset })?;
        let page_checksum = kernel.copy_with_checksum(destination, page);
        self.set_record(index, ipa.0 | frame_bit(frame), page_checksum)
    }

    /// Records the page at `ipa` as the current checkpoint has it, without
    /// copying: for a page not written since the current checkpoint (so
    /// memory still equals it there) but written since this slot's last
    /// image. The new record names the current checkpoint's frame, which no
    /// later checkpoint writes while this one is current.
    pub fn inherit_page(&mut self, ipa: Ipa) -> Result<(), StoreError> {
        let index = self.store.page_index(ipa)?;
        self.inherit_page_at(index)
    }

    /// [`inherit_page`](Self::inherit_page) for page number `index`.
    #[inline(always)]
    pub fn inherit_page_at(&mut self, index: u64) -> Result<(), StoreError> {
        let Some(current) = self.current else {
            let ipa = self.store.map.ipa_of(index).unwrap_or(Ipa(0));
            return Err(StoreError::NothingToInherit { ipa });
        };
        let [word, page_checksum] = self.store.record(current, index)?;
        self.set_record(index, word, page_checksum)
    }

    /// Whether [`inherit_page`](Self::inherit_page) can be used: there is
    /// a current checkpoint with an intact header.
    pub fn can_inherit(&self) -> bool {
        self.current.is_some()
    }

    /// Writes page `index`'s record in this slot and keeps the page sum.
    #[inline(always)]
    fn set_record(&mut self, index: u64, word: u64, page_checksum: u64) -> Result<(), StoreError> {
        let store = &mut *self.store;
        // The old record is part of the sum when the slot held an image, or
        // when this checkpoint wrote the page already.
        let counted = self.base_valid || store.written.is_dirty_index(index);
        let range = store.record_range(self.slot, index)?;
        let offset = range.start as u64;
        let record = store
            .bytes
            .get_mut(range)
            .ok_or(StoreError::OutOfBounds { offset })?;
        if counted {
            let [old_word, old_checksum] =
                record_words(record).ok_or(StoreError::OutOfBounds { offset })?;
            self.page_sum = self
                .page_sum
                .wrapping_sub(page_term(old_word, old_checksum));
        }
        set_record_words(record, [word, page_checksum])
            .ok_or(StoreError::OutOfBounds { offset })?;
        self.page_sum = self.page_sum.wrapping_add(page_term(word, page_checksum));
        store.written.mark_index(index);
        Ok(())
    }

    /// Completes the checkpoint: writes the header and its checksum, then,
    /// last, the state `Complete`; from then on it is the current one.
    pub fn finish(self) -> Result<Generation, StoreError> {
        let Writer {
            store,
            slot,
            current: _,
            generation,
            taken_at,
            base_valid,
            page_sum,
        } = self;
        if let Some(index) = store.vcpus_written.iter().position(|written| !written) {
            return Err(StoreError::MissingVcpuState { slot, index });
        }
        if !base_valid && store.written.count() != store.geometry.pages {
            return Err(StoreError::MissingPages {
                slot,
                written: store.written.count(),
                needed: store.geometry.pages,
            });
        }
        let range = store.slot_range(slot, 0, HEADER_SIZE)?;
        let offset = range.start as u64;
        let header = store
            .bytes
            .get_mut(range)
            .ok_or(StoreError::OutOfBounds { offset })?;
        write_u64(header, OFFSET_MAGIC, MAGIC)?;
        write_u32(header, OFFSET_VERSION, FORMAT_VERSION)?;
        write_u64(header, OFFSET_GENERATION, generation.0)?;
        write_u64(header, OFFSET_TAKEN_AT, taken_at)?;
        write_u32(header, OFFSET_VCPU_COUNT, store.geometry.vcpus as u32)?;
        write_u32(
            header,
            OFFSET_REGION_COUNT,
            store.map.regions().count() as u32,
        )?;
        write_u64(header, OFFSET_PAGE_COUNT, store.geometry.pages)?;
        write_u64(header, OFFSET_PAGE_SUM, page_sum)?;
        for (i, (ipa, size)) in store.map.regions().enumerate() {
            write_u64(header, OFFSET_REGIONS + i * ENTRY_SIZE, ipa.0)?;
            write_u64(header, OFFSET_REGIONS + i * ENTRY_SIZE + 8, size)?;
        }
        let header_sum = header_checksum(header, store.geometry.vcpus)?;
        write_u64(header, OFFSET_CHECKSUM, header_sum)?;
        // Everything above must be in place before the slot reads as Complete.
        compiler_fence(Ordering::SeqCst);
        write_u32(header, OFFSET_STATE, SlotState::Complete as u32)?;
        Ok(generation)
    }
}

/// A record's two little-endian words; None unless `record` is one
/// record long.
///
/// Records are 8-byte aligned (the store and its areas are), and read as
/// words: the EL2 target has strict alignment, so a read through a byte
/// array would be sixteen byte loads. The byte form stays for a store a
/// test placed unaligned, out of line: inline, LLVM sees both forms give
/// the same value and keeps only the byte loads.
#[inline(always)]
fn record_words(record: &[u8]) -> Option<[u64; 2]> {
    match bytemuck::try_from_bytes::<[u64; 2]>(record) {
        Ok(&[word, checksum]) => Some([u64::from_le(word), u64::from_le(checksum)]),
        Err(_) => unaligned::record_words(record),
    }
}

/// Writes a record's two words, as [`record_words`] reads them.
#[inline(always)]
fn set_record_words(record: &mut [u8], words: [u64; 2]) -> Option<()> {
    match bytemuck::try_from_bytes_mut::<[u64; 2]>(record) {
        Ok(aligned) => *aligned = words.map(u64::to_le),
        Err(_) => unaligned::set_record_words(record, words)?,
    }
    Some(())
}

/// The byte-wise forms of the word accesses, for an unaligned store.
mod unaligned {
    #[cold]
    #[inline(never)]
    pub(super) fn record_words(record: &[u8]) -> Option<[u64; 2]> {
        let (word, checksum) = record.split_first_chunk::<8>()?;
        let checksum: &[u8; 8] = checksum.try_into().ok()?;
        Some([u64::from_le_bytes(*word), u64::from_le_bytes(*checksum)])
    }

    #[cold]
    #[inline(never)]
    pub(super) fn set_record_words(record: &mut [u8], [word, checksum]: [u64; 2]) -> Option<()> {
        let (first, second) = record.split_first_chunk_mut::<8>()?;
        let second: &mut [u8; 8] = second.try_into().ok()?;
        *first = word.to_le_bytes();
        *second = checksum.to_le_bytes();
        Some(())
    }

    #[cold]
    #[inline(never)]
    pub(super) fn read_u64(field: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*field)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn write_u64(field: &mut [u8], value: u64) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

/// Bit 0 of a record's first word: which slot's data area (frame) holds
/// the page (an IPA is 4 KiB aligned, so the bit is free).
const FRAME_BIT: u64 = 1;

fn frame_of(word: u64) -> Slot {
    if word & FRAME_BIT == 0 {
        Slot::A
    } else {
        Slot::B
    }
}

fn frame_bit(frame: Slot) -> u64 {
    frame.index() as u64
}

/// Offset of vCPU `index`'s state area inside a slot.
fn vcpu_area_offset(index: usize) -> u64 {
    HEADER_SIZE + index as u64 * VCPU_AREA_SIZE
}

/// Checksum of a header's bytes that are read (the fields, the region
/// table and the vCPU table's `vcpus` entries), leaving out its state word
/// (written after the checksum) and the checksum itself. The rest of the
/// 4 KiB is never read: covering it made each checkpoint checksum two
/// whole headers and verify a third.
fn header_checksum(header: &[u8], vcpus: u64) -> Result<u64, StoreError> {
    let used = usize::try_from(vcpus)
        .ok()
        .and_then(|vcpus| vcpus.checked_mul(ENTRY_SIZE))
        .and_then(|table| table.checked_add(OFFSET_VCPU_TABLE))
        .ok_or(StoreError::SizeOverflow)?;
    let part = |range: Range<usize>| {
        header
            .get(range.clone())
            .map(checksum)
            .ok_or(StoreError::OutOfBounds {
                offset: range.start as u64,
            })
    };
    let before_state = part(0..OFFSET_STATE)?;
    let before_checksum = part(OFFSET_STATE + 4..OFFSET_CHECKSUM)?;
    let rest = part(OFFSET_CHECKSUM + 8..used)?;
    Ok(before_state ^ before_checksum.rotate_left(21) ^ rest.rotate_left(42))
}

/// The little-endian u64 at `offset`: one load where it is aligned (see
/// [`record_words`]).
#[inline(always)]
fn read_u64(bytes: &[u8], offset: usize) -> Result<u64, StoreError> {
    let field: &[u8; 8] = bytes
        .get(offset..offset.wrapping_add(8))
        .and_then(|field| field.try_into().ok())
        .ok_or(StoreError::OutOfBounds {
            offset: offset as u64,
        })?;
    Ok(match bytemuck::try_from_bytes::<u64>(field) {
        Ok(&word) => u64::from_le(word),
        Err(_) => unaligned::read_u64(field),
    })
}

fn read_u32(bytes: &[u8], offset: usize) -> Result<u32, StoreError> {
    bytes
        .get(offset..offset.wrapping_add(4))
        .and_then(|field| field.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(StoreError::OutOfBounds {
            offset: offset as u64,
        })
}

/// Writes the little-endian u64 at `offset`, as [`read_u64`] reads it.
#[inline(always)]
fn write_u64(bytes: &mut [u8], offset: usize, value: u64) -> Result<(), StoreError> {
    let field = bytes
        .get_mut(offset..offset.wrapping_add(8))
        .ok_or(StoreError::OutOfBounds {
            offset: offset as u64,
        })?;
    match bytemuck::try_from_bytes_mut::<u64>(field) {
        Ok(word) => *word = value.to_le(),
        Err(_) => unaligned::write_u64(field, value),
    }
    Ok(())
}

fn write_u32(bytes: &mut [u8], offset: usize, value: u32) -> Result<(), StoreError> {
    bytes
        .get_mut(offset..offset.wrapping_add(4))
        .ok_or(StoreError::OutOfBounds {
            offset: offset as u64,
        })?
        .copy_from_slice(&value.to_le_bytes());
    Ok(())
}
