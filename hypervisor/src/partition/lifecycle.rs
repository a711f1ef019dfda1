//! Partition lifecycle across cores: CPU_ON, stop (SYSTEM_OFF or fault) and reset, through the cross-core protocol.

use bulkhead_core::protocol::{HoldAttempt, Operation, PowerOnRefused, Request};

use super::protocol::{self, Serviced, Site, EXIT_TIMEOUT_MS};
use super::runtime::{Partition, PartitionState};
use super::system::System;
use super::vcpu::Vcpu;
use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::gic;
use crate::arch::aarch64::timer::Deadline;
use crate::error::Error;

/// Why a partition stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The guest asked (PSCI SYSTEM_OFF).
    PowerOff,
    /// Bulkhead stopped it after a fault.
    Fault,
    /// Its manager stopped it.
    Manager,
}

/// What the vCPU that asked for a stop or reset does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// Leave its guest (stopped, reset, or superseded by another vCPU's stop or reset).
    Leave,
    /// Return to its guest: the partition was restored while this vCPU
    /// waited, and its frame holds the checkpoint's state (the request is moot).
    Resume,
}

fn interrupted(serviced: Serviced) -> Then {
    if serviced == Serviced::Reloaded {
        Then::Resume
    } else {
        Then::Leave
    }
}

/// Stops `partition` for good, from `vcpu` (one of its own, on its core),
/// which then leaves its guest. Never waits for another core: the others
/// are told to leave and do so at their next exit. Nothing is done if the
/// partition was not running (another vCPU stopped or reset it first).
pub fn stop_partition(
    system: &System,
    partition: &Partition,
    vcpu: &Vcpu,
    frame: &mut GuestFrame,
    site: Site,
    reason: StopReason,
) -> Then {
    let claim = match protocol::claim_own(partition, vcpu, frame, site, Operation::Stop) {
        Ok(claim) => claim,
        Err(serviced) => return interrupted(serviced),
    };
    if partition.state() == PartitionState::Running {
        stop_claimed(system, partition, reason);
    }
    drop(claim);
    Then::Leave
}

/// Stops a partition whose operation slot the caller holds.
pub(super) fn stop_claimed(system: &System, partition: &Partition, reason: StopReason) {
    partition.set_state(match reason {
        StopReason::PowerOff => PartitionState::Off,
        StopReason::Fault | StopReason::Manager => PartitionState::Stopped,
    });
    // Its devices stop decoding and mastering DMA: nothing of a stopped
    // partition keeps writing memory.
    if let Some(pci) = partition.virtual_pci {
        pci.quiesce();
    }
    for other in &partition.vcpus {
        // Out of its guest: powered off where it is. In it: told to leave
        // (the state write above comes first, so a core that starts it now
        // sees the partition stopped and does not run it).
        match other.cell.hold() {
            HoldAttempt::Held => {
                other.held_power_off();
                other.cell.let_go();
            }
            HoldAttempt::Running => other.post(Request::Exit),
        }
    }
    let remaining = system.partition_died();
    log::info!(
        "partition {} (id {}) is {}; {} partition(s) still running",
        partition.label(),
        partition.config.id,
        match reason {
            StopReason::PowerOff => "off",
            StopReason::Fault => "stopped",
            StopReason::Manager => "stopped by its manager",
        },
        remaining
    );
    log::info!(
        "partition {} (id {}) stats: {}",
        partition.label(),
        partition.config.id,
        super::StatsLine(partition.stats())
    );
}

/// Why a reset did not happen (the partition was stopped instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ResetFailed;

/// Resets `partition` from `vcpu` (one of its own, on its core): every
/// other vCPU leaves its guest, the pristine image and guest DT are copied
/// in again, and vCPU 0 boots. The caller leaves its guest afterwards;
/// it is already off, so the new vCPU 0 may CPU_ON it at once.
pub fn reset_partition(
    system: &System,
    partition: &Partition,
    vcpu: &Vcpu,
    frame: &mut GuestFrame,
    site: Site,
) -> Then {
    let claim = match protocol::claim_own(partition, vcpu, frame, site, Operation::Reset) {
        Ok(claim) => claim,
        Err(serviced) => return interrupted(serviced),
    };
    if partition.state() == PartitionState::Running {
        // The caller is off from here on: it only unwinds.
        vcpu.leave();
        // A failed reset stopped the partition: the caller leaves either way.
        let _ = reset_claimed(system, partition);
    }
    drop(claim);
    Then::Leave
}

/// Resets `partition` from another partition's core (a manager restoring a
/// partition that has no checkpoint). Busy if another operation holds it.
pub fn reset_foreign(system: &System, partition: &Partition) -> Result<(), Error> {
    let claim = partition
        .operation
        .try_claim(Operation::Reset)
        .map_err(|_| Error::Busy)?;
    if partition.state() != PartitionState::Running {
        return Err(Error::NotRunning);
    }
    let reset = reset_claimed(system, partition);
    drop(claim);
    reset.map_err(|_| Error::NotRunning)
}

/// Stops `partition` from another partition's core (a manager whose
/// restore found a corrupted checkpoint). Busy if another operation holds it.
pub fn stop_foreign(
    system: &System,
    partition: &Partition,
    reason: StopReason,
) -> Result<(), Error> {
    let claim = partition
        .operation
        .try_claim(Operation::Stop)
        .map_err(|_| Error::Busy)?;
    if partition.state() != PartitionState::Running {
        return Err(Error::NotRunning);
    }
    stop_claimed(system, partition, reason);
    drop(claim);
    Ok(())
}

/// Boots a partition that is off or stopped from its pristine image, from
/// another partition's core (a manager's `start`). Busy if another
/// operation holds it; AlreadyRunning if it runs.
pub fn start_foreign(system: &System, partition: &Partition) -> Result<(), Error> {
    let claim = partition
        .operation
        .try_claim(Operation::Reset)
        .map_err(|_| Error::Busy)?;
    if matches!(
        partition.state(),
        PartitionState::Running | PartitionState::Resetting
    ) {
        return Err(Error::AlreadyRunning);
    }
    system.partition_revived();
    // A failed start stops the partition again (and counts it dead again).
    let started = reset_claimed(system, partition);
    drop(claim);
    started.map_err(|_| Error::NotRunning)
}

/// Waits (briefly, bounded) until no vCPU of a stopped `partition` but
/// `except` is still in its guest, so that a report printed next comes
/// after anything it printed. Gives up at the deadline or as soon as a
/// request arrives for `except` (the waiting core's own vCPU).
pub fn wait_until_out(partition: &Partition, except: Option<&Vcpu>) {
    let deadline = Deadline::after_ms(REPORT_WAIT_MS);
    let in_guest = |vcpu: &Vcpu| {
        !except.is_some_and(|own| core::ptr::eq(own, vcpu))
            && vcpu.state().power() == bulkhead_core::protocol::PowerView::On
    };
    while partition.vcpus.iter().any(in_guest) && !deadline.passed() {
        if except.is_some_and(|own| !own.cell.mailbox.peek().is_empty()) {
            return;
        }
        core::hint::spin_loop();
    }
}

/// How long [`wait_until_out`] waits at most.
const REPORT_WAIT_MS: u64 = 10;

/// The reset itself, under the caller's claim; every vCPU in its guest is
/// told to leave and waited for (with a deadline).
fn reset_claimed(system: &System, partition: &Partition) -> Result<(), ResetFailed> {
    partition.set_state(PartitionState::Resetting);
    let deadline = Deadline::after_ms(EXIT_TIMEOUT_MS);
    for other in &partition.vcpus {
        let mut posted = false;
        while other.cell.hold() == HoldAttempt::Running {
            if !posted {
                other.post(Request::Exit);
                posted = true;
            }
            if deadline.passed() {
                log::error!(
                    "partition {}: vCPU {} did not leave its guest within {EXIT_TIMEOUT_MS} ms; stopping it instead of resetting",
                    partition.label(),
                    other.index
                );
                stop_claimed(system, partition, StopReason::Fault);
                return Err(ResetFailed);
            }
            core::hint::spin_loop();
        }
    }
    // Every vCPU is out of its guest and held: nothing runs the partition.
    partition.reset_interrupts();
    // A reset is a cold start for its devices too: DMA off before the image reload.
    if let Some(pci) = partition.virtual_pci {
        pci.quiesce();
    }
    if let Err(error) = partition.load_images() {
        log::error!("partition {}: reset failed: {error}", partition.label());
        stop_claimed(system, partition, StopReason::Fault);
        return Err(ResetFailed);
    }
    if let Some(checkpointing) = partition.checkpointing.as_ref() {
        // A restore to a checkpoint from before the reset must not keep
        // the pages the reload wrote behind tracking's back.
        checkpointing.memory_rewritten();
    }
    for other in &partition.vcpus {
        other.clear_pending_interrupts();
        if other.index == 0 {
            other.held_power_on(partition.placement.kernel.0, partition.placement.dtb.0);
        } else {
            other.held_power_off();
        }
        other
            .start_from_snapshot
            .store(false, core::sync::atomic::Ordering::SeqCst);
    }
    partition.set_state(PartitionState::Running);
    for other in &partition.vcpus {
        if other.cell.let_go() {
            gic::send_kick(other.mpidr);
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
) -> Result<(), PowerOnRefused> {
    let vcpu = partition
        .vcpus
        .get(target)
        .ok_or(PowerOnRefused::AlreadyOn)?;
    vcpu.power_on(entry, context)?;
    gic::send_kick(vcpu.mpidr);
    Ok(())
}

/// Whether a vCPU core's guest run must end: its partition is not running.
pub fn must_leave(partition: &Partition) -> bool {
    partition.state() != PartitionState::Running
}

/// Services the vCPU's mailbox at an EL2 exit; true if it must leave its
/// guest (a restore that reloaded `frame` returns to the guest, false).
pub fn leave_requested(
    partition: &Partition,
    vcpu: &Vcpu,
    frame: &mut GuestFrame,
    site: Site,
) -> bool {
    protocol::service(partition, vcpu, frame, site) == Serviced::Exit || must_leave(partition)
}
