//! Guest faults: a one-paragraph report, then the faulting partition (only) stops.

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::vm;
use crate::hypercall::Caller;
use crate::partition::protocol::Site;
use crate::partition::{self, StopReason};
use crate::println;
use crate::trap::TrapOutcome;
use bulkhead_core::address::Ipa;
use bulkhead_core::config::OnFault;
use bulkhead_core::decode::esr::{describe, Esr, ExceptionClass};

/// Reports the fault and stops the caller's partition; the vCPU leaves its guest.
pub fn stop_for_fault(caller: &Caller, frame: &mut GuestFrame, esr: u64) -> TrapOutcome {
    let ipa = match Esr(esr).class() {
        ExceptionClass::DataAbortLower | ExceptionClass::InstructionAbortLower => vm::fault_ipa(),
        _ => 0,
    };
    let far = vm::far();
    let partition_ref = caller.partition;
    crate::partition::TrapCounters::bump(&partition_ref.traps.faults);
    // The layout may ask for a restart or a rollback instead of a stop.
    let on_fault = partition_ref
        .checkpointing
        .as_ref()
        .map_or(OnFault::Stop, |checkpointing| checkpointing.policy.on_fault);
    let outcome = match on_fault {
        OnFault::Stop => "stopped",
        OnFault::Restart => "faulted (on-fault = restart: booting its image again)",
        OnFault::Restore => "faulted (on-fault = restore: rolling back to its last checkpoint)",
    };
    println!(
        "bulkhead: partition {} (id {}) {}: {}\nbulkhead:   vcpu {}: esr={:#x} far={:#x} ipa={:#x} elr={:#x}",
        partition_ref.label(),
        partition_ref.config.id,
        outcome,
        describe(Esr(esr), Ipa(ipa)),
        caller.vcpu.index,
        esr,
        far,
        ipa,
        frame.elr
    );
    // A fault handler cannot be refused: these wait out another operation
    // on the partition (servicing this vCPU's mailbox) instead of BUSY.
    match on_fault {
        OnFault::Restore => crate::hypercall::checkpoint::restore_on_fault(caller, frame),
        OnFault::Restart => partition::reset_partition(
            caller.system,
            partition_ref,
            caller.vcpu,
            frame,
            Site::Interrupted,
        )
        .into(),
        OnFault::Stop => partition::stop_partition(
            caller.system,
            partition_ref,
            caller.vcpu,
            frame,
            Site::Interrupted,
            StopReason::Fault,
        )
        .into(),
    }
}
