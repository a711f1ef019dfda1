//! The virtual PL011 of a partition without a UART as a registry entry: its output goes to the partition's console ring, its input comes from Bulkhead's console.
//!
//! The register model is `bulkhead_core::virtual_uart`; this side moves
//! transmitted bytes into the console (never waiting for the UART) and
//! raises the virtual SPI when the interrupt line rises.

use bulkhead_core::config::virtual_console::VIRTUAL_UART_INTID;
use bulkhead_core::vgic::Width;
use bulkhead_core::virtual_uart::VirtualPl011;
use spin::Mutex;

use super::EmulatedDevice;
use crate::partition::{system, Partition, Vcpu};
use crate::{console, virtual_spi};

pub struct VirtualUart {
    model: Mutex<VirtualPl011>,
}

impl VirtualUart {
    pub const fn new() -> VirtualUart {
        VirtualUart {
            model: Mutex::new(VirtualPl011::new()),
        }
    }

    /// Partition restart: registers back to reset, pending input dropped.
    pub fn reset(&self) {
        self.model.lock().reset();
    }

    /// Runs `f` on the model and raises the SPI if the line went up.
    fn with<T>(&self, partition: &Partition, f: impl FnOnce(&mut VirtualPl011) -> T) -> T {
        let (result, rose) = {
            let mut model = self.model.lock();
            let before = model.interrupt_level();
            let result = f(&mut model);
            (result, !before && model.interrupt_level())
        };
        if rose {
            virtual_spi::raise(partition, VIRTUAL_UART_INTID);
        }
        result
    }

    /// Whether its interrupt line is asserted.
    pub fn interrupt_level(&self) -> bool {
        self.model.lock().interrupt_level()
    }

    /// An input byte for the guest; false if its receive FIFO was full
    /// (the byte is dropped and counted).
    pub fn receive(&self, partition: &Partition, byte: u8) -> bool {
        self.with(partition, |model| model.receive(byte))
    }
}

impl EmulatedDevice for VirtualUart {
    fn read(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        self.with(partition, |model| model.read(offset, width))
    }

    fn write(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        let transmitted = self.with(partition, |model| model.write(offset, width, value));
        if let Some(byte) = transmitted {
            console::write_guest_bytes(console_index(partition), partition.label(), &[byte]);
        }
    }
}

/// The partition's console ring index: its position in the system.
pub fn console_index(partition: &Partition) -> usize {
    system()
        .and_then(|system| {
            system
                .partitions
                .iter()
                .position(|p| core::ptr::eq(p, partition))
        })
        .unwrap_or(usize::MAX)
}
