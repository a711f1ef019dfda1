//! A partition's virtual PCI host bridge: a trapped ECAM showing only its own functions.
//!
//! The model (`bulkhead_core::pci::VirtualBus`) decides what of each access
//! reaches the physical function: BARs stay where Bulkhead put them, MSI
//! and MSI-X are hidden, only a driver's Command bits pass.

use alloc::vec::Vec;

use bulkhead_core::pci::{ConfigSpace, FunctionAddress, VirtualBus};
use bulkhead_core::vgic::Width;
use spin::Mutex;

use super::EmulatedDevice;
use crate::partition::{Partition, Vcpu};
use crate::pci::Ecam;

pub struct VirtualPciHost {
    bus: Mutex<VirtualBus>,
    ecam: Ecam,
    /// The physical functions behind it.
    functions: Vec<FunctionAddress>,
}

/// Command register offset; its dword's upper half is Status (RW1C: zeros change nothing).
const COMMAND: u16 = 0x04;
/// Command with only INTx Disable set: no decoding, no DMA, and a level
/// interrupt the device still asserts drops (it would storm a stopped
/// partition's cores otherwise).
const COMMAND_QUIESCED: u32 = 1 << 10;

impl VirtualPciHost {
    pub fn new(bus: VirtualBus, ecam: Ecam, functions: Vec<FunctionAddress>) -> VirtualPciHost {
        VirtualPciHost {
            bus: Mutex::new(bus),
            ecam,
            functions,
        }
    }

    /// Turns off decoding, bus mastering and INTx of every function (the
    /// partition stopped or is being reset: its devices must not DMA or
    /// interrupt on). A driver clears INTx Disable again when it starts.
    pub fn quiesce(&self) {
        let mut ecam = self.ecam;
        let _bus = self.bus.lock();
        for &function in &self.functions {
            ecam.write32(function, COMMAND, COMMAND_QUIESCED);
        }
    }
}

impl EmulatedDevice for VirtualPciHost {
    fn read(&self, _partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        let mut ecam = self.ecam;
        self.bus.lock().read(&mut ecam, offset, width)
    }

    fn write(&self, _partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        let mut ecam = self.ecam;
        self.bus.lock().write(&mut ecam, offset, width, value);
    }
}
