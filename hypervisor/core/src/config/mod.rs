//! Device-tree layout -> validated [`Layout`]: the one validator shared by `cargo xtask check` and the hypervisor.
//!
//! [`parse_board`] reads the board (CPUs, RAM, MMIO, GIC, console);
//! [`parse_layout`] checks the `/chosen/bulkhead` layout (binding v1)
//! against it and returns every problem found. Neither panics on any input.
#![forbid(unsafe_code)]

mod board;
pub mod dt;
mod error;
mod interrupts;
mod layout;
mod regs;
mod validate;

pub use crate::address::{Ipa, PhysAddr, PhysRange};
pub use board::{parse_board, Board, BoardCpu, GicV3, MmioRegion};
// For guest_dt, which derives the guest's GIC and copied nodes from the same board DT.
pub(crate) use board::gic_node;
pub use dt::DtError;
pub(crate) use error::Issue;
pub use error::{BoardError, LayoutError};
pub(crate) use interrupts::interrupt_map;
pub use layout::{Device, Layout, MemoryRegion, Module, Partition};
pub(crate) use regs::{physical_regs, reachable_pci_ranges};
pub use validate::{parse_layout, LAYOUT_COMPATIBLE};
