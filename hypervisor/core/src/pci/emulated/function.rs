//! An emulated function on a virtual bus: its config header and the interrupt line it shares with its registers.

use alloc::sync::Arc;

use bulkhead_abi::{control, ivshmem};

use super::header::{BarError, BarWindow, EmulatedHeader, Identity};
use super::intx::IntxLine;
use crate::vgic::Width;

/// What an ivshmem endpoint says it is (QEMU's ivshmem, revision 1).
pub const IVSHMEM_IDENTITY: Identity = Identity {
    vendor_id: ivshmem::VENDOR_ID,
    device_id: ivshmem::DEVICE_ID,
    revision: ivshmem::REVISION,
    class_code: ivshmem::CLASS,
    subsystem_vendor_id: ivshmem::SUBSYSTEM_VENDOR_ID,
    subsystem_id: ivshmem::SUBSYSTEM_ID,
};

/// What the control function says it is (its subsystem IDs repeat its own IDs).
pub const CONTROL_IDENTITY: Identity = Identity {
    vendor_id: control::VENDOR_ID,
    device_id: control::DEVICE_ID,
    revision: control::REVISION,
    class_code: control::CLASS,
    subsystem_vendor_id: control::VENDOR_ID,
    subsystem_id: control::DEVICE_ID,
};

/// The config-space side of a function Bulkhead emulates: what sits on a
/// [`super::super::VirtualBus`] slot. Its BAR0 registers are a separate
/// model ([`super::IvshmemRegisters`], [`super::ControlRegisters`]) built on
/// the same [`IntxLine`].
#[derive(Clone, Debug)]
pub struct EmulatedFunction {
    header: EmulatedHeader,
    line: Arc<IntxLine>,
}

impl EmulatedFunction {
    /// A channel endpoint: BAR0 its registers (`abi::ivshmem::REGISTERS_SIZE`
    /// or its page), BAR2/3 the channel memory.
    pub fn ivshmem(
        registers: BarWindow,
        memory: BarWindow,
        line: Arc<IntxLine>,
    ) -> Result<EmulatedFunction, BarError> {
        EmulatedFunction::new(IVSHMEM_IDENTITY, registers, Some(memory), line)
    }

    /// The control function: BAR0 its registers (`abi::control::REGISTERS_SIZE`).
    pub fn control(
        registers: BarWindow,
        line: Arc<IntxLine>,
    ) -> Result<EmulatedFunction, BarError> {
        EmulatedFunction::new(CONTROL_IDENTITY, registers, None, line)
    }

    /// Any emulated endpoint: BAR0 32-bit at `registers`, BAR2/3 64-bit
    /// prefetchable at `memory` if given, INTx driven by `line`.
    pub fn new(
        identity: Identity,
        registers: BarWindow,
        memory: Option<BarWindow>,
        line: Arc<IntxLine>,
    ) -> Result<EmulatedFunction, BarError> {
        Ok(EmulatedFunction {
            header: EmulatedHeader::new(identity, registers, memory)?,
            line,
        })
    }

    /// The interrupt line this function's header shows and masks.
    pub fn line(&self) -> &Arc<IntxLine> {
        &self.line
    }

    /// A guest config read of `width` at `offset` in the function's 4 KiB.
    pub fn read(&self, offset: u16, width: Width) -> u64 {
        self.header.read(offset, width, &self.line)
    }

    /// A guest config write. Returns whether INTx rose (inject it).
    #[must_use = "a raise must be injected"]
    pub fn write(&mut self, offset: u16, width: Width, value: u64) -> bool {
        self.header.write(offset, width, value, &self.line)
    }

    /// Partition restart: Command, Interrupt Line and the interrupt state back to reset.
    pub fn reset(&mut self) {
        self.header.reset();
        self.line.reset();
    }
}

/// Same header, and the very same line (not merely an equal one).
impl PartialEq for EmulatedFunction {
    fn eq(&self, other: &EmulatedFunction) -> bool {
        self.header == other.header && Arc::ptr_eq(&self.line, &other.line)
    }
}

impl Eq for EmulatedFunction {}
