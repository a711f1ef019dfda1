//! Guest faults: a stage-2 abort outside the map is delivered to the guest (rate-limited report); anything else is reported and stops the faulting partition (only).

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::vm;
use crate::hypercall::Caller;
use crate::partition::protocol::Site;
use crate::partition::{self, StopReason};
use crate::println;
use crate::trap::TrapOutcome;
use bulkhead_core::address::Ipa;
use bulkhead_core::config::{OnFault, Stage2Fault};
use bulkhead_core::decode::esr::{describe, Esr, ExceptionClass};
use bulkhead_core::external_abort::{self, Report};

/// A stage-2 data or instruction abort no emulated device served. Outside
/// the partition's map (translation or address-size fault) and with
/// `stage2-fault = "deliver"` (the default), the guest takes a synchronous
/// external abort at its EL1 and runs on; otherwise, as any fault.
pub fn stage2_abort(caller: &Caller, frame: &mut GuestFrame, esr: u64) -> TrapOutcome {
    crate::partition::TrapCounters::bump(&caller.partition.traps.stage2_faults);
    if caller.partition.config.stage2_fault == Stage2Fault::Stop {
        return stop_for_fault(caller, frame, esr);
    }
    let trapped = crate::arch::aarch64::inject::trapped_abort(frame);
    match external_abort::deliver(&trapped, crate::arch::aarch64::inject::pstate_features()) {
        Ok(delivery) => deliver_reported(
            caller,
            frame,
            &delivery,
            &caller.partition.traps.delivered_aborts,
            format_args!(
                "{}, delivered to the guest as a synchronous external abort \
                 (vcpu {} esr={:#x} far={:#x} elr={:#x} esr_el1={:#x} vector={:#x})",
                describe(Esr(esr), Ipa(vm::fault_ipa())),
                caller.vcpu.index,
                esr,
                trapped.far,
                trapped.elr,
                delivery.esr_el1,
                delivery.vector,
            ),
            "stage-2 aborts delivered to the guest",
        ),
        // Inside the map (a write to a read-only page), or a mode no guest
        // can trap from: the partition's fault, as before.
        Err(_) => stop_for_fault(caller, frame, esr),
    }
}

/// A trapped access to a feature the guest is not shown (SME, an MTE
/// register, a RAS error record, ...): the guest takes the UNDEFINED
/// exception a core without that feature raises, with a report line under
/// the same rate limit as delivered aborts.
pub fn undefined(caller: &Caller, frame: &mut GuestFrame, esr: u64) -> TrapOutcome {
    let trapped = crate::arch::aarch64::inject::trapped_instruction(frame);
    match external_abort::undefined(&trapped, crate::arch::aarch64::inject::pstate_features()) {
        Ok(delivery) => deliver_reported(
            caller,
            frame,
            &delivery,
            &caller.partition.traps.delivered_undefined,
            format_args!(
                "{} (a feature it is not shown), delivered to the guest as UNDEFINED \
                 (vcpu {} esr={:#x} elr={:#x})",
                describe(Esr(esr), Ipa(0)),
                caller.vcpu.index,
                esr,
                trapped.elr,
            ),
            "accesses to hidden features made UNDEFINED",
        ),
        Err(_) => stop_for_fault(caller, frame, esr),
    }
}

/// Counts the exception the guest is about to take in `faults` and in
/// `count` (the rate limit's, never reset), reports it (`what` in full,
/// then a summary of `summary` at each power of two), and makes the
/// guest take it when it resumes.
fn deliver_reported(
    caller: &Caller,
    frame: &mut GuestFrame,
    delivery: &external_abort::Delivery,
    count: &core::sync::atomic::AtomicU64,
    what: core::fmt::Arguments<'_>,
    summary: &str,
) -> TrapOutcome {
    let partition = caller.partition;
    crate::partition::TrapCounters::bump(&partition.traps.faults);
    let count = count
        .fetch_add(1, core::sync::atomic::Ordering::Relaxed)
        .wrapping_add(1);
    match external_abort::report_kind(count) {
        Report::Full => println!(
            "bulkhead: partition {} (id {}): {}",
            partition.label(),
            partition.config.id,
            what
        ),
        Report::Summary => println!(
            "bulkhead: partition {} (id {}): {} {} so far \
             (after the first {} only every power of two is reported)",
            partition.label(),
            partition.config.id,
            count,
            summary,
            external_abort::REPORTED_IN_FULL,
        ),
        Report::Silent => {}
    }
    crate::arch::aarch64::inject::deliver(frame, delivery);
    TrapOutcome::Resume
}

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
