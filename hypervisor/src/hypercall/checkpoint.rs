//! Checkpoint hypercalls: take, restore, status (and a test-only corruption hook), on the caller or a partition it manages.
//!
//! A call on a partition in the middle of another lifecycle operation
//! answers BUSY at once; one on a partition that is not running, DENIED:
//! a manager's core is never made to wait for the partition it manages.

use bulkhead_abi::{ret, vendor};

use super::{set_result, Caller};
use crate::arch::aarch64::exception::GuestFrame;
use crate::error::Error;
use crate::manage;
use crate::partition::checkpoint::{self, Origin, Requester, Restored};
use crate::partition::protocol::Site;
use crate::partition::{self, Partition, StopReason};
use crate::println;
use crate::trap::TrapOutcome;

/// The partition `x1` names, if the caller may act on it.
fn target<'a>(caller: &Caller<'a>, id: u64) -> Result<&'a Partition, i64> {
    manage::target(caller.system, caller.partition, id)
}

pub fn handle(caller: &Caller, function: u32, frame: &mut GuestFrame) -> TrapOutcome {
    // Without test hooks the test-only call does not exist, whatever its arguments.
    if function == vendor::CHECKPOINT_CORRUPT_FOR_TEST && !caller.system.test_hooks {
        set_result(frame, ret::NOT_SUPPORTED);
        return TrapOutcome::Resume;
    }
    let target = match target(caller, frame.x[1]) {
        Ok(target) => target,
        Err(error) => {
            set_result(frame, error);
            return TrapOutcome::Resume;
        }
    };
    let Some(checkpointing) = target.checkpointing.as_ref() else {
        set_result(frame, ret::NOT_SUPPORTED);
        return TrapOutcome::Resume;
    };
    let itself = core::ptr::eq(target, caller.partition);
    match function {
        vendor::CHECKPOINT_TAKE => {
            let requester = Requester {
                vcpu: caller.vcpu,
                own_frame: itself.then_some(&mut *frame),
            };
            match checkpoint::take(target, requester, Origin::Hypercall) {
                Ok(generation) => {
                    frame.x[0] = ret::SUCCESS as u64;
                    frame.x[1] = generation;
                }
                Err(error) => refuse(target, frame, &error),
            }
            TrapOutcome::Resume
        }
        vendor::CHECKPOINT_RESTORE => restore(caller, target, itself, frame),
        vendor::CHECKPOINT_STATUS => {
            let stats = *checkpointing.stats.lock();
            frame.x[0] = ret::SUCCESS as u64;
            frame.x[1] = if checkpointing.has_checkpoint() {
                stats.generation
            } else {
                0
            };
            frame.x[2] = stats.taken;
            frame.x[3] = stats.pages_copied;
            frame.x[4] = stats.pause_ticks;
            frame.x[5] = stats.taken_at;
            TrapOutcome::Resume
        }
        vendor::CHECKPOINT_CORRUPT_FOR_TEST if !itself => {
            let result = checkpoint::corrupt_for_test(target, frame.x[2]);
            set_result(
                frame,
                if result.is_ok() {
                    ret::SUCCESS
                } else {
                    ret::INVALID_PARAMETERS
                },
            );
            TrapOutcome::Resume
        }
        vendor::CHECKPOINT_CORRUPT_FOR_TEST => {
            set_result(frame, ret::DENIED);
            TrapOutcome::Resume
        }
        _ => {
            set_result(frame, ret::NOT_SUPPORTED);
            TrapOutcome::Resume
        }
    }
}

/// Sets the error code; a failure other than BUSY/DENIED is also reported.
fn refuse(target: &Partition, frame: &mut GuestFrame, error: &Error) {
    if !matches!(error, Error::Busy | Error::NotRunning) {
        log::warn!("partition {}: checkpoint failed: {error}", target.label());
    }
    set_result(frame, error.smccc_code());
}

/// CHECKPOINT_RESTORE: on the caller itself, success resumes the caller
/// inside the CHECKPOINT_TAKE that made the checkpoint.
fn restore(
    caller: &Caller,
    target: &Partition,
    itself: bool,
    frame: &mut GuestFrame,
) -> TrapOutcome {
    if !itself {
        // None: this vCPU was restored meanwhile and `frame` holds the
        // checkpoint's state: the call is moot.
        if let Some(code) = manage::restore_other(caller.system, caller.vcpu, target) {
            set_result(frame, code);
        }
        return TrapOutcome::Resume;
    }
    let requester = Requester {
        vcpu: caller.vcpu,
        own_frame: Some(&mut *frame),
    };
    let result = checkpoint::restore(target, requester, false);
    finish_restore(caller, frame, result, Site::Hypercall)
}

/// `on-fault = "restore"`: rolls the faulting vCPU's own partition back.
pub fn restore_on_fault(caller: &Caller, frame: &mut GuestFrame) -> TrapOutcome {
    let requester = Requester {
        vcpu: caller.vcpu,
        own_frame: Some(&mut *frame),
    };
    let result = checkpoint::restore(caller.partition, requester, true);
    finish_restore(caller, frame, result, Site::Interrupted)
}

/// The end of a restore of the caller's own partition.
fn finish_restore(
    caller: &Caller,
    frame: &mut GuestFrame,
    result: Result<Restored, Error>,
    site: Site,
) -> TrapOutcome {
    let target = caller.partition;
    match result {
        Ok(Restored::Checkpoint {
            generation,
            caller_off,
        }) => {
            log::info!(
                "partition {} restored to checkpoint {generation}",
                target.label()
            );
            if caller_off {
                // Off (or still to start) in the checkpoint: the run loop
                // makes it pending again if it was to start.
                caller.vcpu.leave();
                return TrapOutcome::Exit;
            }
            TrapOutcome::Resume
        }
        Ok(Restored::NoCheckpoint) => {
            log::info!(
                "partition {} has no checkpoint; restarting it from its image",
                target.label()
            );
            partition::reset_partition(caller.system, target, caller.vcpu, frame, site).into()
        }
        // Another operation restored this vCPU while it waited: `frame`
        // holds the checkpoint's state, the fault is moot.
        Err(Error::Reloaded) => TrapOutcome::Resume,
        Err(error @ (Error::Busy | Error::NotRunning | Error::NoCheckpointPolicy)) => {
            set_result(frame, error.smccc_code());
            TrapOutcome::Resume
        }
        Err(error) => {
            // Stopped first, reported after: once the report is out, the
            // partition prints nothing more.
            let then = partition::stop_partition(
                caller.system,
                target,
                caller.vcpu,
                frame,
                site,
                StopReason::Fault,
            );
            println!(
                "bulkhead: partition {} (id {}) restore refused: {error}; partition stopped",
                target.label(),
                target.config.id
            );
            then.into()
        }
    }
}
