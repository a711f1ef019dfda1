//! Why a guest device tree could not be built.

use alloc::string::String;
use core::fmt;

use crate::config::dt::DtError;
use crate::config::Issue;

/// A failure of [`super::build`], naming the node or property at fault.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestDtError {
    /// The board DTB is not a well-formed flattened device tree.
    Board(DtError),
    /// The board DTB lacks a node the guest DT is derived from.
    MissingNode(&'static str),
    /// The board root's `#address-cells`/`#size-cells` are not 2/2 and a
    /// node to copy depends on them (a `reg` right under the root, or any
    /// node when the root's `#address-cells` is not 2), so it cannot be
    /// copied under the guest's 2/2 root.
    RootCells { address_cells: u32, size_cells: u32 },
    /// vCPU `vcpu` runs on logical CPU `cpu`, which the board does not have.
    NoSuchCpu { vcpu: usize, cpu: usize },
    /// More vCPUs than a virtual MPIDR's Aff0 can number.
    TooManyVcpus(usize),
    /// An assigned device path is not in the board DT.
    DeviceNotFound(String),
    /// A node to copy is nested deeper than one bus below the root.
    TooDeep(String),
    /// An assigned device would replace a node the guest DT generates itself.
    ReservedNode(String),
    /// A property needed to follow references is malformed.
    Property {
        node: String,
        property: &'static str,
        reason: &'static str,
    },
    /// A board property the guest DT is derived from is malformed (the same
    /// sentence the layout validator would give).
    BoardProperty {
        node: String,
        property: String,
        reason: String,
    },
    /// The initrd range given in the options wraps the address space.
    InitrdWraps,
    /// The writer refused the output (an invalid name, a NUL in `bootargs`...).
    Write(vm_fdt::Error),
}

impl fmt::Display for GuestDtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestDtError::Board(error) => write!(f, "guest device tree: board: {error}"),
            GuestDtError::MissingNode(path) => {
                write!(f, "guest device tree: the board has no {path} node")
            }
            GuestDtError::RootCells { address_cells, size_cells } => write!(
                f,
                "guest device tree: board root has #address-cells {address_cells} and #size-cells {size_cells}; board devices can be given to a partition only under a 2/2 root, or on a bus under a root of 2 address cells"
            ),
            GuestDtError::NoSuchCpu { vcpu, cpu } => write!(
                f,
                "guest device tree: vCPU {vcpu} runs on CPU {cpu}, which the board does not have"
            ),
            GuestDtError::TooManyVcpus(count) => {
                write!(f, "guest device tree: {count} vCPUs do not fit in MPIDR Aff0 (256 at most)")
            }
            GuestDtError::DeviceNotFound(path) => {
                write!(f, "guest device tree: device {path} is not in the board device tree")
            }
            GuestDtError::TooDeep(path) => write!(
                f,
                "guest device tree: {path} is nested more than one bus below the root"
            ),
            GuestDtError::ReservedNode(path) => write!(
                f,
                "guest device tree: {path} cannot be assigned: the guest device tree generates it"
            ),
            GuestDtError::Property { node, property, reason } => {
                write!(f, "guest device tree: {node}: {property}: {reason}")
            }
            GuestDtError::BoardProperty { node, property, reason } => {
                write!(f, "guest device tree: board: {node}: {property}: {reason}")
            }
            GuestDtError::InitrdWraps => {
                write!(f, "guest device tree: the initrd range wraps the address space")
            }
            GuestDtError::Write(error) => write!(f, "guest device tree: writer: {error}"),
        }
    }
}

impl From<DtError> for GuestDtError {
    fn from(error: DtError) -> Self {
        GuestDtError::Board(error)
    }
}

impl From<Issue> for GuestDtError {
    fn from(issue: Issue) -> Self {
        GuestDtError::BoardProperty {
            node: issue.node,
            property: issue.property,
            reason: issue.reason,
        }
    }
}

impl From<vm_fdt::Error> for GuestDtError {
    fn from(error: vm_fdt::Error) -> Self {
        GuestDtError::Write(error)
    }
}
