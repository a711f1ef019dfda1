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
pub use dt::DtError;
pub use error::{BoardError, LayoutError};
pub use layout::{Device, Layout, MemoryRegion, Module, Partition};
pub use validate::{parse_layout, LAYOUT_COMPATIBLE};
