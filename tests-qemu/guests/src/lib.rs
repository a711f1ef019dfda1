//! Runtime for Bulkhead's bare-metal EL1 test guests: entry, MMU, console, hypercalls, PSCI, GICv3 and IRQs.
//!
//! A guest binary provides its `main` (and optionally a secondary-vCPU entry)
//! with [`guest_main!`]; this crate boots the vCPU, prints the common boot
//! lines and hands over a [`BootInfo`].
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod channel;
pub mod checkpoint;
pub mod console;
pub mod copy;
#[macro_use]
pub mod cpu;
pub mod dt;
pub mod edu;
pub mod entry;
pub mod exception;
pub mod gic;
pub mod hypercall;
pub mod irq;
pub mod mini_uart;
pub mod mmu;
pub mod pci;
pub mod pl011;
pub mod psci;
pub mod timer;

pub use bulkhead_abi as abi;
pub use entry::BootInfo;
