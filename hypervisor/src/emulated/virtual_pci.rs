//! A partition's virtual PCI host bridge: a trapped ECAM showing its own physical functions and Bulkhead's emulated ones.
//!
//! The model (`bulkhead_core::pci::VirtualBus`) decides what of each access
//! reaches a physical function: BARs stay where Bulkhead put them, MSI
//! and MSI-X are hidden, only a driver's Command bits pass. Emulated
//! functions (channel endpoints, the control function) live in the model;
//! a write that raises one's INTx is injected here.

use alloc::vec::Vec;

use bulkhead_core::pci::{ConfigSpace, FunctionAddress, VirtualBus};
use bulkhead_core::vgic::Width;
use spin::Mutex;

use super::{ControlFunction, EmulatedDevice};
use crate::partition::{Partition, Vcpu};
use crate::pci::Ecam;
use crate::virtual_spi;

pub struct VirtualPciHost {
    bus: Mutex<VirtualBus>,
    /// The physical ECAM behind the assigned functions (an empty one if none).
    ecam: Ecam,
    /// The physical functions behind it.
    functions: Vec<FunctionAddress>,
    /// The virtual SPI of each emulated function's INTx, by device number.
    intx: Vec<(u8, u32)>,
    /// The control function, if the partition manages others.
    control: Option<&'static ControlFunction>,
}

/// Command register offset; its dword's upper half is Status (RW1C: zeros change nothing).
const COMMAND: u16 = 0x04;
/// Command with only INTx Disable set: no decoding, no DMA, and a level
/// interrupt the device still asserts drops (it would storm a stopped
/// partition's cores otherwise).
const COMMAND_QUIESCED: u32 = 1 << 10;

impl VirtualPciHost {
    pub fn new(
        bus: VirtualBus,
        ecam: Ecam,
        functions: Vec<FunctionAddress>,
        intx: Vec<(u8, u32)>,
        control: Option<&'static ControlFunction>,
    ) -> VirtualPciHost {
        VirtualPciHost {
            bus: Mutex::new(bus),
            ecam,
            functions,
            intx,
            control,
        }
    }

    /// Turns off decoding, bus mastering and INTx of every physical function
    /// and puts the emulated ones in their reset state (the partition
    /// stopped or is being reset: its devices must not DMA or interrupt on).
    /// A driver clears INTx Disable again when it starts.
    pub fn quiesce(&self) {
        let mut ecam = self.ecam;
        let mut bus = self.bus.lock();
        for &function in &self.functions {
            ecam.write32(function, COMMAND, COMMAND_QUIESCED);
        }
        bus.reset_emulated();
        if let Some(control) = self.control {
            control.reset();
        }
    }
}

impl EmulatedDevice for VirtualPciHost {
    fn read(&self, _partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        let mut ecam = self.ecam;
        self.bus.lock().read(&mut ecam, offset, width)
    }

    fn write(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        let mut ecam = self.ecam;
        let raise = self.bus.lock().write(&mut ecam, offset, width, value);
        if let Some((_, intid)) =
            raise.and_then(|raise| self.intx.iter().find(|(device, _)| *device == raise.device))
        {
            virtual_spi::raise(partition, *intid);
        }
    }
}
