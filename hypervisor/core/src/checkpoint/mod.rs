//! Checkpoint bookkeeping: dirty-page bitmaps and the double-buffered checkpoint store format.
//!
//! The hypervisor pauses a partition's vCPUs, hands this module their saved
//! state and its memory page by page, and applies what comes back on restore.
//! Nothing here touches a register or guest memory directly.
//!
//! # Model
//!
//! The store (a region reserved in the layout, never mapped to a guest) holds
//! two **slots**, A and B. Each slot, once complete, is a *full image* of the
//! partition: every vCPU's state and every 4 KiB page of its memory. The
//! current checkpoint is the complete slot with the highest generation; a new
//! checkpoint is always written into the *other* slot, so the current one
//! stays intact until the new one is complete (atomicity by double
//! buffering). The state word of a slot's header is written last, after a
//! compiler fence, so a checkpoint abandoned half-way (a fault, a reset, a
//! dropped [`Writer`]) leaves that slot `Writing` and never current.
//!
//! Incremental checkpoints, each page copied once: [`DirtyTracker`] keeps
//! two [`DirtyBitmap`]s, "pages written since slot A was last committed"
//! and the same for B. A stage-2 write fault marks both. Checkpointing into
//! slot X goes over the pages marked in X's bitmap (everything else in X
//! already equals memory), then clears it. Of those, a page also marked in
//! the current slot's bitmap is copied from memory; any other one equals the
//! current checkpoint's copy, and X's record simply takes over the current
//! one's record ([`Writer::inherit_page`]): no data moves. Each slot has its
//! own data area, its **frame**; a record names the frame holding its page
//! (bit 0 of its first word), and a copy always goes into the frame the
//! current checkpoint does *not* use for that page, so the current one stays
//! whole while the new one is written, frames it inherited included. A
//! steady workload thus copies each dirtied page once per interval (the
//! two-slot scheme before format 3 copied it into each slot in turn), and
//! the store needs no more room than before: two frames per page.
//! A slot that was not complete when writing began (never used, or
//! abandoned mid-way) has no usable base: [`Writer::needs_every_page`] says
//! so and [`Writer::finish`] refuses unless every page was written or
//! inherited.
//!
//! Restore: the pages to copy back are the ones written since the current
//! checkpoint, i.e. the current slot's bitmap in the tracker
//! ([`CheckpointStore::pages_to_restore`]); every other page of memory already
//! equals the image. [`CheckpointStore::verify`] checks the whole slot;
//! [`CheckpointStore::verify_pages`] checks the header, the vCPU states and
//! only the pages about to be copied, which is enough for a correct restore
//! since no other stored page is read.
//!
//! # Store layout (all integers little-endian)
//!
//! The store is `2 × slot_size` bytes, slot A first. With `P` pages of memory
//! (the partition's regions in layout order) and `V` vCPUs, a slot is:
//!
//! | offset in slot | size | content |
//! |---|---|---|
//! | 0 | 4 KiB | header (below) |
//! | 4 KiB | `V × 16 KiB` | vCPU `i`'s state at `4 KiB + 16 KiB × i`, length in the header (room for SVE at 2048 bits) |
//! | `4 KiB + 16 KiB × V` | `round_up(P × 16, 4 KiB)` | page records: record `n` = `{ ipa \| frame: u64, checksum: u64 }` of page `n` (frame 0: slot A's data area, 1: slot B's) |
//! | after the records | `P × 4 KiB` | the slot's frame: page data, page `n` at `data + 4 KiB × n` |
//!
//! so `store_size = 2 × (4 KiB + V × 16 KiB + round_up(P × 16, 4 KiB) + P × 4 KiB)`,
//! the same arithmetic as the layout validator's store-size check
//! ([`store_size`]). Page data stays 4 KiB aligned when the store is.
//!
//! Header (4 KiB):
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0 | u64 | magic `"BHCKPT\0\x01"` |
//! | 8 | u32 | format version (4) |
//! | 12 | u32 | state: 0 Empty, 1 Writing, 2 Complete (written last) |
//! | 16 | u64 | generation |
//! | 24 | u64 | taken-at (counter ticks, as the hypervisor reads them) |
//! | 32 | u32 | vCPU count `V` |
//! | 36 | u32 | region count (at most 24) |
//! | 40 | u64 | page count `P` |
//! | 48 | u64 | page sum: wrapping sum over pages of `mix(record word, page checksum)` |
//! | 56 | u64 | reserved (0) |
//! | 64 | u64 | header checksum: every header byte up to the end of the vCPU table (512 + 16 V) except state and this field (format 4; format 3 took all 4 KiB) |
//! | 128 | 24 × `{ ipa: u64, size: u64 }` | the memory regions the image covers |
//! | 512 | V × `{ length: u32, reserved: u32, checksum: u64 }` | per-vCPU state length and checksum (V at most 224) |
//!
//! The header checksum covers the vCPU checksums and the page sum, so it is
//! the checksum "of state and pages"; the page sum is updated in O(1) per
//! page written, which keeps an incremental checkpoint's fixed cost
//! independent of the partition's size. Checksums are a 4-lane Fletcher-style
//! sum over 64-bit words (cheap, vectorisable, catches any single changed
//! word and reorderings), finished with a 64-bit mixer.
#![deny(unsafe_code)]

mod bitmap;
mod checksum;
mod error;
mod format;
mod page_map;
mod store;

#[cfg(test)]
mod tests;

pub use bitmap::{DirtyBitmap, DirtyIndices, DirtyIter, DirtyTracker};
pub use checksum::{checksum, checksum_from_lanes, PageKernel, PortableKernel, LANES, PAGE_BYTES};
pub use error::StoreError;
pub use format::{
    slot_size, store_size, SlotState, FORMAT_VERSION, MAX_REGIONS, MAX_VCPUS, VCPU_STATE_MAX,
};
pub use page_map::{PageMap, PageRun};
pub use store::{CheckpointInfo, CheckpointStore, Generation, Slot, Writer};
