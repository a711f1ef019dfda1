//! On-store layout: sizes, header field offsets and the slot geometry (see the module docs).

use super::error::StoreError;
use crate::address::PAGE_SIZE;

/// `"BHCKPT\0\x01"` read as a little-endian u64.
pub(super) const MAGIC: u64 = u64::from_le_bytes(*b"BHCKPT\0\x01");
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 5;

/// Bytes of a slot header.
pub(super) const HEADER_SIZE: u64 = 4096;
/// Bytes reserved per vCPU for its saved state.
pub(super) const VCPU_AREA_SIZE: u64 = crate::config::checkpoint::VCPU_STATE_BYTES;
/// The largest vCPU state the store holds.
pub const VCPU_STATE_MAX: usize = VCPU_AREA_SIZE as usize;
/// Bytes of one page record (`ipa: u64, checksum: u64`).
pub(super) const RECORD_SIZE: u64 = 16;

pub(super) const OFFSET_MAGIC: usize = 0;
pub(super) const OFFSET_VERSION: usize = 8;
pub(super) const OFFSET_STATE: usize = 12;
pub(super) const OFFSET_GENERATION: usize = 16;
pub(super) const OFFSET_TAKEN_AT: usize = 24;
pub(super) const OFFSET_VCPU_COUNT: usize = 32;
pub(super) const OFFSET_REGION_COUNT: usize = 36;
pub(super) const OFFSET_PAGE_COUNT: usize = 40;
pub(super) const OFFSET_PAGE_SUM: usize = 48;
pub(super) const OFFSET_CHECKSUM: usize = 64;
pub(super) const OFFSET_REGIONS: usize = 128;
pub(super) const OFFSET_VCPU_TABLE: usize = 512;
/// Bytes per region entry (`ipa: u64, size: u64`) and per vCPU entry
/// (`length: u32, reserved: u32, checksum: u64`).
pub(super) const ENTRY_SIZE: usize = 16;

/// The most memory regions a checkpointed partition may have.
pub const MAX_REGIONS: usize = (OFFSET_VCPU_TABLE - OFFSET_REGIONS) / ENTRY_SIZE;
/// The most vCPUs a checkpointed partition may have.
pub const MAX_VCPUS: usize = (HEADER_SIZE as usize - OFFSET_VCPU_TABLE) / ENTRY_SIZE;

/// What a slot's header says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum SlotState {
    /// Never written (or formatted since).
    Empty = 0,
    /// A checkpoint was begun and not finished: the contents are not usable.
    Writing = 1,
    /// A finished checkpoint.
    Complete = 2,
}

impl SlotState {
    /// The state a header word encodes; anything else is corruption.
    pub(super) fn from_word(word: u32) -> Option<SlotState> {
        match word {
            0 => Some(SlotState::Empty),
            1 => Some(SlotState::Writing),
            2 => Some(SlotState::Complete),
            _ => None,
        }
    }
}

/// Bytes of one slot for `pages` pages of memory and `vcpus` vCPUs, or `None`
/// on overflow: a header page, a page per vCPU, the page records rounded up
/// to whole pages, and the page data.
pub fn slot_size(pages: u64, vcpus: u64) -> Option<u64> {
    let records = pages
        .checked_mul(RECORD_SIZE)?
        .checked_next_multiple_of(PAGE_SIZE)?;
    HEADER_SIZE
        .checked_add(vcpus.checked_mul(VCPU_AREA_SIZE)?)?
        .checked_add(records)?
        .checked_add(pages.checked_mul(PAGE_SIZE)?)
}

/// Bytes of store a partition with `memory_bytes` of memory (a partial page
/// counts whole) and `vcpus` vCPUs needs: two slots. The layout validator's
/// `checkpoint_store_required` uses the same arithmetic.
pub fn store_size(memory_bytes: u64, vcpus: u64) -> Option<u64> {
    slot_size(memory_bytes.div_ceil(PAGE_SIZE), vcpus)?.checked_mul(2)
}

/// Where things are inside one slot, for a given partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    pub vcpus: u64,
    pub pages: u64,
    pub slot_size: u64,
    pub records_offset: u64,
    pub data_offset: u64,
}

impl Geometry {
    pub fn new(pages: u64, vcpus: u64) -> Result<Geometry, StoreError> {
        if vcpus > MAX_VCPUS as u64 {
            return Err(StoreError::TooManyVcpus {
                count: vcpus,
                max: MAX_VCPUS,
            });
        }
        let slot_size = slot_size(pages, vcpus).ok_or(StoreError::SizeOverflow)?;
        let records_offset = HEADER_SIZE + vcpus * VCPU_AREA_SIZE;
        // Cannot overflow: slot_size summed the same terms with checks.
        let data_offset = records_offset + (pages * RECORD_SIZE).next_multiple_of(PAGE_SIZE);
        Ok(Geometry {
            vcpus,
            pages,
            slot_size,
            records_offset,
            data_offset,
        })
    }
}
