//! Bulkhead's own errors: typed, wrapping the core crate's, turned into an SMCCC code or a report only at the edge.

use core::fmt;

use bulkhead_abi::ret;
use bulkhead_core::address::Ipa;
use bulkhead_core::checkpoint::StoreError;
use bulkhead_core::config::LayoutError;
use bulkhead_core::guest_dt::GuestDtError;
use bulkhead_core::stage2::MapError;

#[derive(Debug)]
pub enum Error {
    /// Another lifecycle operation holds the partition, or one of its vCPUs
    /// did not answer in time: nothing was done.
    Busy,
    /// The partition is off, stopped or being reset.
    NotRunning,
    /// A start of a partition that is running (or being reset).
    AlreadyRunning,
    /// The partition has no checkpoint policy.
    NoCheckpointPolicy,
    /// The checkpoint store refused (or a checkpoint failed verification).
    Store(StoreError),
    /// A stage-2 table update failed.
    Stage2(MapError),
    /// The guest device tree could not be built.
    GuestDt(GuestDtError),
    /// A placement problem found while building a partition (a layout error).
    Layout(LayoutError),
    /// A stored vCPU state is too short to be one.
    VcpuStateTruncated { vcpu: usize },
    /// A page that should be the partition's RAM is not.
    OutsideMemory(Ipa),
    /// A page the checkpoint should hold is absent.
    PageMissing(Ipa),
    /// A partition id that does not fit the 16-bit VMID.
    VmidTooLarge(u32),
    /// A boot image does not fit where it goes.
    ImageOutsideMemory,
    /// Two emulated devices of one partition claim the same IPAs.
    EmulatedOverlap,
    /// The board's GICv2 has no virtual CPU interface (GICV) to give guests.
    GicWithoutVirtualization,
    /// A virtual PCI function could not be built (what failed).
    VirtualPci(&'static str),
    /// The requesting vCPU was restored to a checkpoint while it waited:
    /// its request is moot.
    Reloaded,
}

impl Error {
    /// The SMCCC return code a guest sees for this error.
    pub fn smccc_code(&self) -> i64 {
        match self {
            Error::Busy => ret::BUSY,
            Error::NotRunning => ret::DENIED,
            Error::AlreadyRunning => ret::ALREADY_ON,
            Error::NoCheckpointPolicy => ret::NOT_SUPPORTED,
            _ => ret::INTERNAL_FAILURE,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Busy => write!(f, "busy with another operation"),
            Error::NotRunning => write!(f, "partition is not running"),
            Error::AlreadyRunning => write!(f, "partition is already running"),
            Error::VirtualPci(what) => write!(f, "virtual PCI bus: {what}"),
            Error::NoCheckpointPolicy => write!(f, "no checkpoint policy"),
            Error::Store(error) => write!(f, "{error}"),
            Error::Stage2(error) => write!(f, "stage 2: {error:?}"),
            Error::GuestDt(error) => write!(f, "guest device tree: {error}"),
            Error::Layout(error) => write!(f, "{error}"),
            Error::VcpuStateTruncated { vcpu } => write!(f, "vCPU {vcpu} state is truncated"),
            Error::OutsideMemory(ipa) => write!(f, "page {:#x} is outside memory", ipa.0),
            Error::PageMissing(ipa) => write!(f, "page {:#x} missing from the checkpoint", ipa.0),
            Error::VmidTooLarge(id) => write!(f, "partition id {id} does not fit a VMID"),
            Error::ImageOutsideMemory => write!(f, "boot image outside the partition's memory"),
            Error::EmulatedOverlap => write!(f, "two emulated devices overlap"),
            Error::GicWithoutVirtualization => write!(
                f,
                "the board's GICv2 lists no GICH/GICV regions (no virtualization extensions)"
            ),
            Error::Reloaded => write!(f, "restored while waiting"),
        }
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        Error::Store(error)
    }
}

impl From<MapError> for Error {
    fn from(error: MapError) -> Self {
        Error::Stage2(error)
    }
}

impl From<GuestDtError> for Error {
    fn from(error: GuestDtError) -> Self {
        Error::GuestDt(error)
    }
}

impl From<LayoutError> for Error {
    fn from(error: LayoutError) -> Self {
        Error::Layout(error)
    }
}
