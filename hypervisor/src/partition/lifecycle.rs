//! Partition lifecycle across cores: CPU_ON, stop (SYSTEM_OFF or fault) and reset.

use super::runtime::{Partition, PartitionState};
use super::system::System;
use super::vcpu::PowerState;
use crate::arch::aarch64::gic;

/// Why a partition stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The guest asked (PSCI SYSTEM_OFF).
    PowerOff,
    /// Bulkhead stopped it after a fault.
    Fault,
}

/// Makes every other vCPU of `partition` leave its guest soon.
fn kick_others(partition: &Partition, except_cpu: usize) {
    for vcpu in partition.vcpus.iter().filter(|vcpu| vcpu.cpu != except_cpu) {
        gic::send_kick(vcpu.mpidr);
    }
}

/// Stops `partition` for good. Returns false if it was not running (someone
/// else is already stopping or resetting it).
pub fn stop_partition(
    system: &System,
    partition: &Partition,
    reason: StopReason,
    caller_cpu: usize,
) -> bool {
    let _lifecycle = partition.lifecycle.lock();
    if partition.state() != PartitionState::Running {
        return false;
    }
    partition.set_state(match reason {
        StopReason::PowerOff => PartitionState::Off,
        StopReason::Fault => PartitionState::Stopped,
    });
    partition.bump_generation();
    kick_others(partition, caller_cpu);
    for vcpu in &partition.vcpus {
        vcpu.force_off();
    }
    let remaining = system.partition_died();
    log::info!(
        "partition {} (id {}) is {}; {} partition(s) still running",
        partition.label(),
        partition.config.id,
        if reason == StopReason::PowerOff {
            "off"
        } else {
            "stopped"
        },
        remaining
    );
    true
}

/// Resets `partition`: all its vCPUs leave the guest, the pristine image and
/// guest DT are copied in again, and vCPU 0 boots. Called from a vCPU of the
/// partition (`caller_cpu`), which must then leave its guest too.
pub fn reset_partition(partition: &Partition, caller_cpu: usize) -> Result<(), &'static str> {
    let _lifecycle = partition.lifecycle.lock();
    if partition.state() != PartitionState::Running {
        return Err("partition is not running");
    }
    partition.set_state(PartitionState::Resetting);
    partition.bump_generation();
    kick_others(partition, caller_cpu);
    for vcpu in partition.vcpus.iter().filter(|vcpu| vcpu.cpu != caller_cpu) {
        while vcpu.in_guest() {
            core::hint::spin_loop();
        }
        vcpu.force_off();
    }
    partition.reset_interrupts();
    partition.load_images()?;
    for vcpu in &partition.vcpus {
        if vcpu.index == 0 {
            vcpu.force_on_pending(partition.placement.kernel.0, partition.placement.dtb.0);
        } else if vcpu.cpu != caller_cpu {
            vcpu.force_off();
        }
    }
    partition.set_state(PartitionState::Running);
    partition.bump_generation();
    if let Some(first) = partition.vcpus.first() {
        if first.cpu != caller_cpu {
            gic::send_kick(first.mpidr);
        }
    }
    log::info!(
        "partition {} (id {}) reset",
        partition.label(),
        partition.config.id
    );
    Ok(())
}

/// PSCI CPU_ON for vCPU `target` of `partition`.
pub fn request_cpu_on(
    partition: &Partition,
    target: usize,
    entry: u64,
    context: u64,
) -> Result<(), PowerState> {
    let vcpu = partition.vcpus.get(target).ok_or(PowerState::Off)?;
    vcpu.request_on(entry, context)?;
    gic::send_kick(vcpu.mpidr);
    Ok(())
}
