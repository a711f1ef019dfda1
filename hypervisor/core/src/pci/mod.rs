//! PCI: boot-time enumeration and BAR assignment, and each partition's filtered view of its assigned functions.
//!
//! At boot the hypervisor calls [`enumerate`] over the host bridge's ECAM: it
//! finds the functions, places every memory BAR in its own 4 KiB pages (so
//! stage 2 can give each partition exactly its functions' pages) and leaves
//! all decode and DMA off. A partition then gets a [`VirtualBus`]: its guest's
//! accesses to a virtual ECAM trap and land here, and each assigned
//! function's [`VirtualFunction`] decides what reaches the device. BARs cannot
//! be moved, MSI and MSI-X are hidden (they could target interrupts the
//! partition does not own), and only a driver's Command bits pass.
//!
//! Beside assigned functions, a virtual bus can hold functions Bulkhead
//! emulates (ivshmem channel endpoints, the control function): see
//! [`emulated`].
//!
//! DMA isolation is not here: it is the SMMU's job, keyed by
//! [`FunctionAddress::routing_id`].
//!
//! Limitations: bridges are listed but not descended into (one bus per host
//! bridge, as on QEMU virt without extra bridges), I/O BARs are never
//! assigned, and a Function Level Reset a guest starts through the PCIe
//! capability clears the physical BARs behind this model's back.
#![forbid(unsafe_code)]

mod access;
mod address;
mod capabilities;
mod config_space;
pub mod emulated;
mod enumerate;
mod error;
mod function;
mod registers;
mod virtual_bar;
mod virtual_bus;
mod virtual_function;
mod window;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub use address::{
    AddressError, FunctionAddress, BUS_CONFIG_SIZE, FUNCTION_CONFIG_SIZE, MAX_DEVICE, MAX_FUNCTION,
};
pub use config_space::ConfigSpace;
pub use enumerate::enumerate;
pub use error::EnumerationError;
pub use function::{Bar, BarKind, Function};
pub use virtual_bus::{Raise, SlotError, VirtualBus};
pub use virtual_function::VirtualFunction;
pub use window::{Window, WindowKind};
