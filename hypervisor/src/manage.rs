//! What a managing partition can see and do to the partitions it manages, shared by the hypercalls and the control function.
//!
//! Permissions are the hypercalls': a partition acts on itself or on one in
//! its `manages`; any other existing partition is DENIED, an id that is no
//! partition INVALID_PARAMETERS. The control function acts on others only
//! (a partition rolling itself back from an MMIO write has no call to
//! return into): its commands on the caller are DENIED.

use bulkhead_abi::ret;
use bulkhead_core::decode::{resolve_target, Target};
use bulkhead_core::pci::emulated::{CommandResult, ControlCommand, Label, PartitionEntry, Traps};

use crate::error::Error;
use crate::partition::checkpoint::{self, Origin, Requester, Restored};
use crate::partition::{self, Partition, StopReason, System, Vcpu};
use crate::println;

/// The partition `id` names, if `caller` may act on it (itself included).
pub fn target<'a>(
    system: &'a System,
    caller: &'a Partition,
    id: u64,
) -> Result<&'a Partition, i64> {
    let own = &caller.config;
    let existing = system.partitions.iter().map(|p| p.config.id);
    match resolve_target(own.id, &own.manages, id, existing) {
        Ok(Target::Caller) => Ok(caller),
        Ok(Target::Managed(id)) => system.partition_by_id(id).ok_or(ret::INVALID_PARAMETERS),
        Err(error) => Err(error.smccc_code()),
    }
}

/// One row of the control function's table.
pub fn entry(partition: &Partition) -> Option<PartitionEntry> {
    let system = partition::system()?;
    let index = system
        .partitions
        .iter()
        .position(|other| core::ptr::eq(other, partition))?;
    let stats = partition
        .checkpointing
        .as_ref()
        .map(|checkpointing| (checkpointing.has_checkpoint(), *checkpointing.stats.lock()));
    let count = |counter: &core::sync::atomic::AtomicU64| {
        counter.load(core::sync::atomic::Ordering::Relaxed)
    };
    let traps = &partition.traps;
    Some(PartitionEntry {
        id: partition.config.id,
        state: partition.state() as u32,
        vcpus: partition.vcpus.len() as u32,
        boot_count: partition.boot_count(),
        memory: partition.config.memory_bytes(),
        faults: count(&traps.faults) + crate::iommu::dma_faults(index),
        checkpoint_generation: stats
            .map_or(0, |(has, stats)| if has { stats.generation } else { 0 }),
        checkpoints: stats.map_or(0, |(_, stats)| stats.taken),
        checkpoint_pause: stats.map_or(0, |(_, stats)| stats.pause_ticks),
        traps: Traps {
            hypercall: count(&traps.hypercall),
            mmio: count(&traps.mmio),
            sysreg: count(&traps.sysreg),
            irq: count(&traps.irq),
            other: count(&traps.other),
        },
        label: Label::new(partition.label()),
    })
}

/// A control-function command from `vcpu` of `manager` on partition `id`.
pub fn command(
    system: &System,
    manager: &Partition,
    vcpu: &Vcpu,
    command: ControlCommand,
    id: u32,
) -> CommandResult {
    let done = |result: Result<u64, i64>| match result {
        Ok(value) => CommandResult {
            result: ret::SUCCESS,
            value,
        },
        Err(result) => CommandResult { result, value: 0 },
    };
    let target = match target(system, manager, u64::from(id)) {
        Ok(target) if !core::ptr::eq(target, manager) => target,
        Ok(_) => return done(Err(ret::DENIED)),
        Err(error) => return done(Err(error)),
    };
    let code = |result: Result<(), Error>| result.map(|()| 0).map_err(|e| e.smccc_code());
    done(match command {
        ControlCommand::Checkpoint => {
            if target.checkpointing.is_none() {
                Err(ret::NOT_SUPPORTED)
            } else {
                let requester = Requester {
                    vcpu,
                    own_frame: None,
                };
                checkpoint::take(target, requester, Origin::Hypercall).map_err(|error| {
                    if !matches!(error, Error::Busy | Error::NotRunning) {
                        log::warn!("partition {}: checkpoint failed: {error}", target.label());
                    }
                    error.smccc_code()
                })
            }
        }
        ControlCommand::Restore => match restore_other(system, vcpu, target) {
            Some(ret::SUCCESS) => Ok(0),
            Some(error) => Err(error),
            None => Err(ret::BUSY),
        },
        ControlCommand::Restart => code(partition::reset_foreign(system, target)),
        ControlCommand::Stop => code(partition::stop_foreign(system, target, StopReason::Manager)),
        ControlCommand::Start => code(partition::start_foreign(system, target)),
    })
}

/// Rolls `target` (not the caller's own partition) back to its last
/// checkpoint, or restarts it from its image if it has none; a checkpoint
/// that fails verification is refused and the target stopped, never
/// half-restored. The SMCCC result; `None` if the caller's own partition
/// was restored while it waited (its registers now hold the checkpoint's
/// state, which must not be touched).
pub fn restore_other(system: &System, vcpu: &Vcpu, target: &Partition) -> Option<i64> {
    if target.checkpointing.is_none() {
        return Some(ret::NOT_SUPPORTED);
    }
    let requester = Requester {
        vcpu,
        own_frame: None,
    };
    let code = match checkpoint::restore(target, requester, false) {
        Ok(Restored::Checkpoint { generation, .. }) => {
            log::info!(
                "partition {} restored to checkpoint {generation}",
                target.label()
            );
            ret::SUCCESS
        }
        Ok(Restored::NoCheckpoint) => {
            log::info!(
                "partition {} has no checkpoint; restarting it from its image",
                target.label()
            );
            match partition::reset_foreign(system, target) {
                Ok(()) => ret::SUCCESS,
                Err(error) => error.smccc_code(),
            }
        }
        Err(error @ (Error::Busy | Error::NotRunning | Error::NoCheckpointPolicy)) => {
            error.smccc_code()
        }
        Err(Error::Reloaded) => return None,
        Err(error) => {
            // Stopped first, reported after: once the report is out, the
            // partition prints nothing more.
            let _ = partition::stop_foreign(system, target, StopReason::Fault);
            partition::wait_until_out(target, Some(vcpu));
            // Its last lines out first (bounded: an error path).
            crate::console::flush_bounded();
            println!(
                "bulkhead: partition {} (id {}) restore refused: {error}; partition stopped",
                target.label(),
                target.config.id
            );
            ret::INTERNAL_FAILURE
        }
    };
    Some(code)
}
