//! The vGIC's trapped frames as registry entries: the distributor and the partition's redistributors (GICv3), or the GICv2 distributor.

use bulkhead_core::vgic::{sgi_pending_read, DistributorV2Effect, Width, GICD_SGIR};

use crate::arch::aarch64::vgic_hw;

use super::EmulatedDevice;
use crate::partition::{Partition, TrapCounters, Vcpu};

/// The emulated GICD (one 64 KiB frame at the board's distributor address).
pub struct VgicDistributor;

/// The emulated GICR frames of the partition's vCPUs (one 128 KiB pair each).
pub struct VgicRedistributors;

impl EmulatedDevice for VgicDistributor {
    fn read(&self, partition: &Partition, _vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        TrapCounters::bump(&partition.traps.gic);
        if let Some(value) = partition.fixed_distributor.read(offset, width) {
            return value;
        }
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

/// The emulated GICv2 distributor (4 KiB at the board's GICD address); the
/// guest's CPU interface is the board's GICV, mapped in stage 2.
pub struct VgicDistributorV2;

impl EmulatedDevice for VgicDistributorV2 {
    fn read(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width) -> u64 {
        TrapCounters::bump(&partition.traps.gic);
        if let Some(value) = partition.fixed_distributor.read(offset, width) {
            return value;
        }
        // The trap is taken on the vCPU's own core: its list registers are here.
        let pending = || {
            vcpu.pending_sgis
                .load()
                .union(vgic_hw::pending_sgis_in_list_registers())
        };
        if let Some(value) = sgi_pending_read(offset, width, pending) {
            return value;
        }
        let mut hardware = partition.hardware_gic();
        partition
            .vgic
            .lock()
            .distributor_v2_read(&mut hardware, vcpu.index, offset, width)
    }

    fn write(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width, value: u64) {
        // SGI generation counts as `sgis` (as ICC_SGI1R_EL1 does on a
        // GICv3), every other access as `gic`.
        if offset == GICD_SGIR {
            TrapCounters::bump(&partition.traps.sgis);
        } else {
            TrapCounters::bump(&partition.traps.gic);
        }
        let effect = {
            let mut hardware = partition.hardware_gic();
            let mut vgic = partition.vgic.lock();
            let effect = vgic.distributor_v2_write(&mut hardware, vcpu.index, offset, width, value);
            let deliverable = vgic.take_deliverable();
            crate::virtual_spi::after_distributor_write(partition, &vgic, deliverable);
            effect
        };
        // Outside the locks: delivery takes the vGIC lock itself.
        match effect {
            DistributorV2Effect::Sgi { intid, vcpus } => {
                crate::irq::send_sgi_to(partition, vcpu, u32::from(intid), u64::from(vcpus));
            }
            // The accessing vCPU's own SGIs, on its own core.
            DistributorV2Effect::SgiPending { set: true, pairs } => {
                vcpu.pending_sgis.put_back(pairs);
                crate::irq::flush_pending(partition, vcpu);
            }
            DistributorV2Effect::SgiPending { set: false, pairs } => {
                vcpu.pending_sgis.clear(pairs);
                vgic_hw::clear_pending_sgis(pairs);
            }
            DistributorV2Effect::None => {}
        }
    }
}
