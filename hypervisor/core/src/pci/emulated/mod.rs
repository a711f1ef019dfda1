//! Functions Bulkhead emulates on a partition's virtual PCI bus: ivshmem channel endpoints and the control function.
//!
//! Each is two pure models sharing one [`IntxLine`] (through an `Arc`):
//! - an [`EmulatedFunction`], its type-0 config header, which sits on a
//!   [`super::VirtualBus`] slot ([`super::VirtualBus::add_emulated`]);
//! - its BAR0 registers, [`IvshmemRegisters`] or [`ControlRegisters`], which
//!   the hypervisor serves from the trapped BAR0 page.
//!
//! Nothing here injects an interrupt or rings a peer: writes return what to
//! do ([`Effects`], [`super::Raise`], or `true` for "INTx rose") and the
//! hypervisor does it. INTx follows the "level line, raised on rising edge"
//! model documented on [`IntxLine`].

mod control;
mod effects;
mod function;
mod header;
mod intx;
mod ivshmem;
mod label;

#[cfg(test)]
mod tests;

pub use control::{
    CommandResult, ControlBackend, ControlCommand, ControlRegisters, PartitionEntry, Traps,
};
pub use effects::{Effects, Ring};
pub use function::{EmulatedFunction, CONTROL_IDENTITY, IVSHMEM_IDENTITY};
pub use header::{BarError, BarWindow, Identity};
pub use intx::IntxLine;
pub use ivshmem::{IvshmemEndpoint, IvshmemRegisters};
pub use label::Label;
