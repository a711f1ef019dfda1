//! A channel endpoint's ivshmem register BAR (BAR0) as a registry entry.
//!
//! The model (`bulkhead_core::pci::emulated::IvshmemRegisters`) decodes the
//! access; what it asks for happens here: its INTx rose (inject it), or the
//! guest rang a peer through DOORBELL (exactly as CHANNEL_NOTIFY).

use bulkhead_core::config::virtual_pci::channel_intx_intid;
use bulkhead_core::pci::emulated::IvshmemRegisters;
use bulkhead_core::vgic::Width;

use super::EmulatedDevice;
use crate::channel::{self, Peers};
use crate::partition::{system, Partition, Vcpu};
use crate::virtual_spi;

pub struct ChannelRegisters {
    registers: IvshmemRegisters,
    /// Position of the channel among the partition's (`config.channels`).
    slot: usize,
}

impl ChannelRegisters {
    pub fn new(registers: IvshmemRegisters, slot: usize) -> ChannelRegisters {
        ChannelRegisters { registers, slot }
    }
}

impl EmulatedDevice for ChannelRegisters {
    fn read(&self, _partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        self.registers.read(offset, width)
    }

    fn write(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        let effects = self.registers.write(offset, width, value);
        if effects.raise {
            virtual_spi::raise(partition, channel_intx_intid(self.slot));
        }
        let (Some(ring), Some(system)) = (effects.ring, system()) else {
            return;
        };
        let peers = ring.peer.map_or(Peers::All, Peers::One);
        // The model already refused rings of itself or of no endpoint.
        let _ = channel::ring(system, partition, self.slot, peers);
    }
}
