//! Host tests of the emulated functions: header, interrupt line, ivshmem and control registers, the bus.

mod bus;
mod control;
mod header;
mod intx;
mod ivshmem;

use alloc::sync::Arc;

use super::{BarWindow, EmulatedFunction, IntxLine, IvshmemEndpoint, IvshmemRegisters, Label};
use crate::address::Ipa;

/// BAR0 of the first channel's endpoint (`config::virtual_pci::channel_registers(0)`).
const REGISTERS: u64 = 0x3f10_0000;
/// The channel memory: 2 MiB at 1 GiB + 2 MiB.
const MEMORY: u64 = 0x4020_0000;
const MEMORY_SIZE: u64 = 0x20_0000;

fn registers_window() -> BarWindow {
    BarWindow {
        address: Ipa(REGISTERS),
        size: bulkhead_abi::ivshmem::REGISTERS_SIZE,
    }
}

fn memory_window() -> BarWindow {
    BarWindow {
        address: Ipa(MEMORY),
        size: MEMORY_SIZE,
    }
}

/// Endpoint 1 of a three-endpoint channel 7 labelled "telemetry".
fn endpoint() -> IvshmemEndpoint {
    IvshmemEndpoint {
        position: 1,
        channel_id: 7,
        endpoints: 3,
        read_only: false,
        label: Label::new("telemetry"),
    }
}

/// An ivshmem endpoint: its function (config side) and its registers, on one line.
fn ivshmem() -> (EmulatedFunction, IvshmemRegisters) {
    let line = Arc::new(IntxLine::new());
    let function = EmulatedFunction::ivshmem(registers_window(), memory_window(), line.clone())
        .expect("valid BARs");
    (function, IvshmemRegisters::new(endpoint(), line))
}
