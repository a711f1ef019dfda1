//! Checkpoint hypercalls: take, restore, status (and a test-only corruption hook), on the caller or a partition it manages.

use bulkhead_abi::{ret, vendor};

use super::{set_result, Caller};
use crate::arch::aarch64::exception::GuestFrame;
use crate::partition::checkpoint::{self, Origin, Restored};
use crate::partition::{self, Partition, PartitionState, StopReason};
use crate::println;
use crate::trap::TrapOutcome;

/// The partition `x1` names, if the caller may act on it.
fn target<'a>(caller: &Caller<'a>, id: u64) -> Result<&'a Partition, i64> {
    let own = caller.partition;
    if id == vendor::SELF || id == u64::from(own.config.id) {
        return Ok(own);
    }
    let id = u32::try_from(id).map_err(|_| ret::INVALID_PARAMETERS)?;
    let partition = caller
        .system
        .partitions
        .iter()
        .find(|partition| partition.config.id == id)
        .ok_or(ret::INVALID_PARAMETERS)?;
    if own.config.manages.contains(&id) {
        Ok(partition)
    } else {
        Err(ret::DENIED)
    }
}

pub fn handle(caller: &Caller, function: u32, frame: &mut GuestFrame) -> TrapOutcome {
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
    // A partition that is off, stopped or being reset has nothing to save or roll back.
    if target.state() != PartitionState::Running && function != vendor::CHECKPOINT_STATUS {
        set_result(frame, ret::DENIED);
        return TrapOutcome::Resume;
    }
    let itself = core::ptr::eq(target, caller.partition);
    let cpu = caller.vcpu.cpu;
    match function {
        vendor::CHECKPOINT_TAKE => {
            let own = itself.then_some(caller.vcpu);
            let result = match own {
                Some(vcpu) => {
                    checkpoint::take(target, cpu, Some((vcpu, &mut *frame)), Origin::Hypercall)
                }
                None => checkpoint::take(target, cpu, None, Origin::Hypercall),
            };
            match result {
                Ok(generation) => {
                    frame.x[0] = ret::SUCCESS as u64;
                    frame.x[1] = generation;
                }
                Err(error) => {
                    log::warn!("partition {}: checkpoint failed: {error}", target.label());
                    set_result(frame, ret::INTERNAL_FAILURE);
                }
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

/// Rolls `target` back; on the caller itself, success resumes the caller
/// inside the CHECKPOINT_TAKE that made the checkpoint.
pub fn restore(
    caller: &Caller,
    target: &Partition,
    itself: bool,
    frame: &mut GuestFrame,
) -> TrapOutcome {
    let cpu = caller.vcpu.cpu;
    let result = if itself {
        checkpoint::restore(target, cpu, Some((caller.vcpu, &mut *frame)))
    } else {
        checkpoint::restore(target, cpu, None)
    };
    match result {
        Ok(Restored::Checkpoint(generation)) => {
            log::info!(
                "partition {} restored to checkpoint {generation}",
                target.label()
            );
            if !itself {
                set_result(frame, ret::SUCCESS);
            }
            TrapOutcome::Resume
        }
        Ok(Restored::NoCheckpoint) => {
            log::info!(
                "partition {} has no checkpoint; restarting it from its image",
                target.label()
            );
            let restarted = partition::reset_partition(target, cpu);
            if itself {
                return TrapOutcome::Exit;
            }
            set_result(
                frame,
                if restarted.is_ok() {
                    ret::SUCCESS
                } else {
                    ret::INTERNAL_FAILURE
                },
            );
            TrapOutcome::Resume
        }
        Err(error) => {
            println!(
                "bulkhead: partition {} (id {}) restore refused: {error}; partition stopped",
                target.label(),
                target.config.id
            );
            partition::stop_partition(caller.system, target, StopReason::Fault, cpu);
            if itself {
                return TrapOutcome::Exit;
            }
            set_result(frame, ret::INTERNAL_FAILURE);
            TrapOutcome::Resume
        }
    }
}
