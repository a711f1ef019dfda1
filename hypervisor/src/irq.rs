//! Guest interrupts: physical IRQs to their owner's vCPU, virtual SGIs between vCPUs, and the overflow queues.
//!
//! A physical interrupt reaches EL2 (HCR_EL2.IMO) on the core its owner's
//! vCPU runs on; it is acknowledged, its priority dropped, and it is put in
//! a list register with the HW bit, so the guest's EOI deactivates it. When
//! every list register is busy it waits in the vCPU's queue, refilled on the
//! maintenance (underflow) interrupt. Virtual SGIs never touch the physical
//! GIC: the sender marks them pending on the target vCPU and kicks its core.

use core::sync::atomic::Ordering;

use bulkhead_core::vgic::GUEST_PPIS;

use crate::arch::aarch64::gic::{self, KICK_SGI, MAINTENANCE_PPI};
use crate::arch::aarch64::timer::{self, HYPERVISOR_TIMER_PPI};
use crate::arch::aarch64::vgic_hw::{self, VirtualInterrupt};
use crate::partition::{Partition, Vcpu};
use crate::percpu;
use crate::trap::TrapOutcome;

/// Whether `intid` belongs to `partition` when it fires on one of its cores.
fn owns(partition: &Partition, intid: u32) -> bool {
    if intid < 32 {
        GUEST_PPIS.contains(&intid)
    } else {
        partition.owns_spi(intid)
    }
}

/// Handles the physical IRQs pending on this core while its vCPU runs.
pub fn handle_physical_irqs(
    partition: &Partition,
    vcpu: &Vcpu,
    cpu: usize,
    frame: &mut crate::arch::aarch64::exception::GuestFrame,
) -> TrapOutcome {
    let mut checkpoint_due = false;
    while let Some(intid) = gic::acknowledge() {
        gic::end_of_interrupt(intid);
        match intid {
            KICK_SGI | MAINTENANCE_PPI => gic::deactivate(intid),
            HYPERVISOR_TIMER_PPI => {
                timer::disarm_hypervisor_timer();
                gic::deactivate(intid);
                checkpoint_due = true;
            }
            _ if owns(partition, intid) => {
                let priority = partition.hardware_priority(vcpu.index, intid);
                queue_or_inject(
                    vcpu,
                    VirtualInterrupt {
                        intid,
                        priority,
                        hardware: true,
                    },
                );
            }
            // Not routed here by Bulkhead: drop it rather than wedge it active.
            _ => gic::deactivate(intid),
        }
    }
    flush_pending(partition, vcpu);
    if checkpoint_due {
        crate::partition::checkpoint::periodic(partition, vcpu, frame);
    }
    if partition.pause_requested.load(Ordering::Acquire)
        && !crate::partition::checkpoint::park(partition, vcpu, frame)
    {
        return TrapOutcome::Exit;
    }
    if partition.generation() != percpu::run_generation(cpu) {
        TrapOutcome::Exit
    } else {
        TrapOutcome::Resume
    }
}

fn queue_or_inject(vcpu: &Vcpu, interrupt: VirtualInterrupt) {
    let mut queue = vcpu.overflow.lock();
    if !queue.is_empty() || !vgic_hw::try_inject(interrupt) {
        if !queue.contains(&interrupt) {
            queue.push_back(interrupt);
        }
        vgic_hw::request_underflow_interrupt(true);
    }
}

/// Moves the vCPU's pending SGIs and queued interrupts into free list
/// registers. Runs on the vCPU's own core.
pub fn flush_pending(partition: &Partition, vcpu: &Vcpu) {
    let sgis = vcpu.pending_sgis.swap(0, Ordering::AcqRel);
    let mut left = 0;
    if sgis != 0 {
        let vgic = partition.vgic.lock();
        for sgi in (0..16).filter(|sgi| sgis & (1 << sgi) != 0) {
            if !vgic.sgi_enabled(vcpu.index, sgi) {
                continue;
            }
            let interrupt = VirtualInterrupt {
                intid: sgi,
                priority: vgic.sgi_priority(vcpu.index, sgi),
                hardware: false,
            };
            if !vgic_hw::try_inject(interrupt) {
                left |= 1 << sgi;
            }
        }
    }
    if left != 0 {
        vcpu.pending_sgis.fetch_or(left, Ordering::AcqRel);
    }
    let mut queue = vcpu.overflow.lock();
    while let Some(&interrupt) = queue.front() {
        if !vgic_hw::try_inject(interrupt) {
            break;
        }
        queue.pop_front();
    }
    vgic_hw::request_underflow_interrupt(left != 0 || !queue.is_empty());
}

/// A trapped write of ICC_SGI1R_EL1 by `sender`: delivers the SGI to the
/// partition's own vCPUs it names; targets outside the partition are dropped.
pub fn send_sgi(partition: &Partition, sender: &Vcpu, value: u64) {
    let sgi = ((value >> 24) & 0xf) as u32;
    let broadcast = value & (1 << 40) != 0;
    let high_affinity = (value >> 16) & 0xff | (value >> 32) & 0xff | (value >> 48) & 0xff;
    let range_base = ((value >> 44) & 0xf) * 16;
    let target_list = value & 0xffff;
    for target in &partition.vcpus {
        let named = if broadcast {
            target.index != sender.index
        } else {
            // Virtual MPIDRs are 0..n-1 in Aff0; nothing lives at Aff1..3 != 0.
            let aff0 = target.index as u64;
            high_affinity == 0
                && aff0 >= range_base
                && aff0 < range_base + 16
                && target_list & (1 << (aff0 - range_base)) != 0
        };
        if !named {
            continue;
        }
        target.pending_sgis.fetch_or(1 << sgi, Ordering::AcqRel);
        if target.index == sender.index {
            flush_pending(partition, sender);
        } else {
            gic::send_kick(target.mpidr);
        }
    }
}
