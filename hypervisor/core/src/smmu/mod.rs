//! SMMUv3 encodings for stage-2-only DMA isolation: registers, stream table entries, commands, events.
//!
//! Bulkhead points every device's stream table entry at its partition's
//! stage-2 tables, so a device can reach only the memory its partition can.
//! Everything here is pure bit arithmetic over the SMMUv3 architecture
//! (IHI 0070) and the behaviour of QEMU's model (hw/arm/smmuv3.c); the driver
//! that writes the registers and queues lives outside this crate.
#![forbid(unsafe_code)]

pub mod command;
mod event;
mod fault_log;
mod features;
pub mod queue;
pub mod registers;
pub mod ste;

#[cfg(test)]
mod tests;

pub use command::{Command, CommandError};
pub use event::{Access, Event, EventKind, EVENT_SIZE};
pub use fault_log::{FaultLog, Recorded};
pub use features::{Features, Unsupported};
pub use queue::QueueIndex;
pub use ste::{Stage2Config, SteView, StreamTableEntry};
