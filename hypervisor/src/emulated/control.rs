//! The control function's register BAR (BAR0) as a registry entry: the partition table and commands of a managing partition.
//!
//! The model (`bulkhead_core::pci::emulated::ControlRegisters`) decodes the
//! access and asks [`crate::manage`] for the table's values and to run
//! commands, with the same permissions as the hypercalls.

use bulkhead_core::config::virtual_pci::CONTROL_INTID;
use bulkhead_core::pci::emulated::{
    CommandResult, ControlBackend, ControlCommand, ControlRegisters, PartitionEntry,
};
use bulkhead_core::vgic::Width;
use spin::Mutex;

use super::EmulatedDevice;
use crate::manage;
use crate::partition::{system, Partition, System, Vcpu};
use crate::virtual_spi;

pub struct ControlFunction {
    registers: Mutex<ControlRegisters>,
}

impl ControlFunction {
    pub fn new(registers: ControlRegisters) -> ControlFunction {
        ControlFunction {
            registers: Mutex::new(registers),
        }
    }

    /// Partition restart: registers and interrupt back to reset.
    pub fn reset(&self) {
        self.registers.lock().reset();
    }
}

/// The table and commands as the calling vCPU of the managing partition sees them.
struct Backend<'a> {
    system: &'a System,
    manager: &'a Partition,
    vcpu: &'a Vcpu,
}

impl ControlBackend for Backend<'_> {
    fn partition_count(&self) -> usize {
        self.system.partitions.len()
    }

    fn entry(&self, index: usize) -> Option<PartitionEntry> {
        manage::entry(self.system.partitions.get(index)?)
    }

    fn own_id(&self) -> u32 {
        self.manager.config.id
    }

    fn command(&mut self, command: ControlCommand, target: u32) -> CommandResult {
        manage::command(self.system, self.manager, self.vcpu, command, target)
    }
}

impl EmulatedDevice for ControlFunction {
    fn read(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        let Some(system) = system() else {
            return 0;
        };
        let backend = Backend {
            system,
            manager: partition,
            vcpu,
        };
        self.registers.lock().read(&backend, offset, width)
    }

    fn write(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        let Some(system) = system() else {
            return;
        };
        let mut backend = Backend {
            system,
            manager: partition,
            vcpu,
        };
        let effects = self
            .registers
            .lock()
            .write(&mut backend, offset, width, value);
        if effects.raise {
            virtual_spi::raise(partition, CONTROL_INTID);
        }
    }
}
