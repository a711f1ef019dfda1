//! What can go wrong with dirty tracking and the checkpoint store.

use core::fmt;

use super::store::Slot;
use crate::address::Ipa;

/// A checkpoint store or dirty-tracking error; `Display` names what failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// A memory region of size 0.
    RegionEmpty { ipa: Ipa },
    /// A memory region whose start or size is not a multiple of 4 KiB.
    RegionMisaligned { ipa: Ipa, size: u64 },
    /// A memory region that wraps the IPA space.
    RegionWraps { ipa: Ipa, size: u64 },
    /// Two memory regions share a page.
    RegionsOverlap { first: Ipa, second: Ipa },
    /// More memory regions than a slot header holds.
    TooManyRegions { count: usize, max: usize },
    /// More vCPUs than a slot header holds.
    TooManyVcpus { count: u64, max: usize },
    /// The store's size does not fit in 64 bits.
    SizeOverflow,
    /// The store region is smaller than two slots.
    TooSmall { needed: u64, have: u64 },
    /// An IPA outside the partition's memory regions.
    NotInMemory { ipa: Ipa },
    /// A page IPA that is not 4 KiB aligned.
    PageMisaligned { ipa: Ipa },
    /// A vCPU index past the partition's vCPU count.
    VcpuOutOfRange { index: usize, count: u64 },
    /// A vCPU state larger than its area.
    VcpuStateTooLarge {
        index: usize,
        length: usize,
        max: usize,
    },
    /// `begin` with a generation not above the current checkpoint's.
    GenerationNotNewer { requested: u64, current: u64 },
    /// `finish` before every vCPU's state was written.
    MissingVcpuState { slot: Slot, index: usize },
    /// `finish` on a slot with no usable base before every page was written.
    MissingPages {
        slot: Slot,
        written: u64,
        needed: u64,
    },
    /// There is no complete checkpoint.
    NoCheckpoint,
    /// The slot holds no complete checkpoint.
    SlotNotComplete { slot: Slot },
    /// A header field disagrees with the partition this store serves.
    HeaderMismatch { slot: Slot, field: &'static str },
    /// The header's checksum does not match its contents.
    HeaderCorrupt { slot: Slot },
    /// A vCPU state's length or checksum is wrong.
    VcpuStateCorrupt { slot: Slot, index: usize },
    /// A page record names the wrong IPA.
    RecordCorrupt { slot: Slot, ipa: Ipa },
    /// A page was to be inherited from the current checkpoint, and there
    /// is none with an intact header (a caller's bug).
    NothingToInherit { ipa: Ipa },
    /// A stored page does not match its checksum.
    PageCorrupt { slot: Slot, ipa: Ipa },
    /// The page records do not add up to the header's page sum.
    PageSumMismatch { slot: Slot },
    /// An offset computed from the geometry fell outside the store (a bug).
    OutOfBounds { offset: u64 },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use StoreError::*;
        write!(f, "checkpoint store: ")?;
        match *self {
            RegionEmpty { ipa } => write!(f, "memory region at IPA {:#x} is empty", ipa.0),
            RegionMisaligned { ipa, size } => write!(
                f,
                "memory region at IPA {:#x} (size {size:#x}) is not 4 KiB aligned",
                ipa.0
            ),
            RegionWraps { ipa, size } => write!(
                f,
                "memory region at IPA {:#x} (size {size:#x}) wraps the address space",
                ipa.0
            ),
            RegionsOverlap { first, second } => write!(
                f,
                "memory regions at IPA {:#x} and {:#x} overlap",
                first.0, second.0
            ),
            TooManyRegions { count, max } => {
                write!(f, "{count} memory regions, at most {max} supported")
            }
            TooManyVcpus { count, max } => write!(f, "{count} vCPUs, at most {max} supported"),
            SizeOverflow => write!(f, "size overflows 64 bits"),
            TooSmall { needed, have } => write!(
                f,
                "store is {have:#x} bytes, needs {needed:#x} (two slots for double buffering)"
            ),
            NotInMemory { ipa } => write!(
                f,
                "IPA {:#x} is outside the partition's memory",
                ipa.0
            ),
            PageMisaligned { ipa } => write!(f, "page IPA {:#x} is not 4 KiB aligned", ipa.0),
            VcpuOutOfRange { index, count } => {
                write!(f, "vCPU {index} out of range (partition has {count})")
            }
            VcpuStateTooLarge { index, length, max } => write!(
                f,
                "vCPU {index} state is {length} bytes, at most {max} fit"
            ),
            GenerationNotNewer { requested, current } => write!(
                f,
                "generation {requested} is not newer than the current checkpoint's {current}"
            ),
            MissingVcpuState { slot, index } => write!(
                f,
                "slot {slot}: checkpoint finished without the state of vCPU {index}"
            ),
            MissingPages {
                slot,
                written,
                needed,
            } => write!(
                f,
                "slot {slot}: had no complete image, so every page is needed: {written} of {needed} written"
            ),
            NoCheckpoint => write!(f, "no complete checkpoint"),
            SlotNotComplete { slot } => write!(f, "slot {slot}: no complete checkpoint"),
            HeaderMismatch { slot, field } => write!(
                f,
                "slot {slot}: header field {field} does not match the partition"
            ),
            HeaderCorrupt { slot } => write!(f, "slot {slot}: header checksum mismatch"),
            VcpuStateCorrupt { slot, index } => {
                write!(f, "slot {slot}: vCPU {index} state is corrupted")
            }
            NothingToInherit { ipa } => write!(
                f,
                "no current checkpoint to take the page at IPA {:#x} from",
                ipa.0
            ),
            RecordCorrupt { slot, ipa } => write!(
                f,
                "slot {slot}: record of the page at IPA {:#x} is corrupted",
                ipa.0
            ),
            PageCorrupt { slot, ipa } => write!(
                f,
                "slot {slot}: stored page at IPA {:#x} is corrupted (checksum mismatch)",
                ipa.0
            ),
            PageSumMismatch { slot } => write!(
                f,
                "slot {slot}: page records do not add up to the header's page sum"
            ),
            OutOfBounds { offset } => write!(f, "offset {offset:#x} is outside the store"),
        }
    }
}
