//! The vGIC's trapped frames as registry entries: the distributor and the partition's redistributors.

use bulkhead_core::vgic::Width;

use super::EmulatedDevice;
use crate::partition::{Partition, TrapCounters, Vcpu};

/// The emulated GICD (one 64 KiB frame at the board's distributor address).
pub struct VgicDistributor;

/// The emulated GICR frames of the partition's vCPUs (one 128 KiB pair each).
pub struct VgicRedistributors;

impl EmulatedDevice for VgicDistributor {
    fn read(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        TrapCounters::bump(&partition.traps.gic);
        let mut hardware = partition.hardware_gic();
        partition
            .vgic
            .lock()
            .distributor_read(&mut hardware, offset, width)
    }

    fn write(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        TrapCounters::bump(&partition.traps.gic);
        // The distributor's owner for the whole read-modify-write.
        let mut hardware = partition.hardware_gic();
        let mut vgic = partition.vgic.lock();
        vgic.distributor_write(&mut hardware, offset, width, value);
        let deliverable = vgic.take_deliverable();
        crate::virtual_spi::after_distributor_write(partition, &vgic, deliverable);
    }
}

impl EmulatedDevice for VgicRedistributors {
    fn read(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        TrapCounters::bump(&partition.traps.gic);
        let mut hardware = partition.hardware_gic();
        partition
            .vgic
            .lock()
            .redistributor_read(&mut hardware, offset, width)
    }

    fn write(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        TrapCounters::bump(&partition.traps.gic);
        let mut hardware = partition.hardware_gic();
        partition
            .vgic
            .lock()
            .redistributor_write(&mut hardware, offset, width, value);
    }
}
