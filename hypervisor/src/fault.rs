//! Guest faults: a one-paragraph report, then the faulting partition (only) stops.

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::vm;
use crate::hypercall::Caller;
use crate::partition::{self, StopReason};
use crate::println;
use crate::trap::TrapOutcome;
use bulkhead_core::config::OnFault;

/// Describes the fault from its syndrome, e.g. "stage-2 data abort (write) at IPA 0x42000000".
fn describe(esr: u64, ipa: u64) -> alloc::string::String {
    use alloc::format;
    let class = esr >> 26;
    let iss = esr & 0x1ff_ffff;
    match class {
        0x24 => {
            let access = if iss & (1 << 6) != 0 { "write" } else { "read" };
            let walk = if iss & (1 << 7) != 0 {
                " during a stage-1 table walk"
            } else {
                ""
            };
            format!("stage-2 data abort ({access}) at IPA {ipa:#x}{walk}")
        }
        0x20 => format!("stage-2 instruction abort at IPA {ipa:#x}"),
        0x18 => format!(
            "trapped system register access (op0={} op1={} CRn={} CRm={} op2={})",
            (iss >> 20) & 3,
            (iss >> 14) & 7,
            (iss >> 10) & 0xf,
            (iss >> 1) & 0xf,
            (iss >> 17) & 7
        ),
        _ => format!("unhandled exception class {class:#x}"),
    }
}

/// Reports the fault and stops the caller's partition; the vCPU leaves its guest.
pub fn stop_for_fault(caller: &Caller, frame: &mut GuestFrame, esr: u64) -> TrapOutcome {
    let class = esr >> 26;
    let ipa = if class == 0x24 || class == 0x20 {
        vm::fault_ipa()
    } else {
        0
    };
    let far = vm::far();
    let partition_ref = caller.partition;
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
        describe(esr, ipa),
        caller.vcpu.index,
        esr,
        far,
        ipa,
        frame.elr
    );
    match on_fault {
        OnFault::Restore => {
            crate::hypercall::checkpoint::restore(caller, partition_ref, true, frame)
        }
        OnFault::Restart => {
            if partition::reset_partition(partition_ref, caller.vcpu.cpu).is_err() {
                partition::stop_partition(
                    caller.system,
                    partition_ref,
                    StopReason::Fault,
                    caller.vcpu.cpu,
                );
            }
            TrapOutcome::Exit
        }
        OnFault::Stop => {
            partition::stop_partition(
                caller.system,
                partition_ref,
                StopReason::Fault,
                caller.vcpu.cpu,
            );
            TrapOutcome::Exit
        }
    }
}
