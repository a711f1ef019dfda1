//! PSCI 1.1 for guests: acting only on the calling partition's own vCPUs.

use bulkhead_abi::{psci, ret};

use super::{set_result, Caller};
use crate::arch::aarch64::exception::GuestFrame;
use bulkhead_core::protocol::{PowerOnRefused, PowerView};

use crate::partition::protocol::Site;
use crate::partition::{self, StopReason};
use crate::trap::TrapOutcome;

pub fn handle(caller: &Caller, function: u32, frame: &mut GuestFrame) -> TrapOutcome {
    // 32-bit calls take 32-bit arguments: ignore the upper halves.
    let narrow = function & 0x4000_0000 == 0;
    let arg = |index: usize| {
        if narrow {
            frame.x[index] & 0xffff_ffff
        } else {
            frame.x[index]
        }
    };
    let (target, entry, context) = (arg(1), arg(2), arg(3));
    match function {
        psci::VERSION => set_result(frame, i64::from(psci::VERSION_1_1)),
        psci::FEATURES => {
            let answer = if is_implemented(frame.x[1] as u32) {
                ret::SUCCESS
            } else {
                ret::NOT_SUPPORTED
            };
            set_result(frame, answer);
        }
        // Standby only: returning at once is a valid wake-up.
        psci::CPU_SUSPEND_32 | psci::CPU_SUSPEND_64 => set_result(frame, ret::SUCCESS),
        psci::CPU_OFF => {
            // Off from here on: a sibling's CPU_ON may start it again at once
            // (its core takes the new start once this exit unwinds).
            caller.vcpu.leave();
            // The last vCPU going off leaves no one to power anything on
            // again: the partition is off, as after SYSTEM_OFF.
            let all_off = caller
                .partition
                .vcpus
                .iter()
                .all(|vcpu| vcpu.state().power() == PowerView::Off);
            if all_off {
                // Off already, so it cannot be parked or reloaded: it leaves.
                let _ = partition::stop_partition(
                    caller.system,
                    caller.partition,
                    caller.vcpu,
                    frame,
                    Site::Hypercall,
                    StopReason::PowerOff,
                );
            }
            return TrapOutcome::Exit;
        }
        psci::CPU_ON_32 | psci::CPU_ON_64 => {
            let result = cpu_on(caller, target, entry, context);
            set_result(frame, result);
        }
        psci::AFFINITY_INFO_32 | psci::AFFINITY_INFO_64 => {
            let result = match (vcpu_index(caller, target), entry) {
                (Some(index), 0) => {
                    caller
                        .partition
                        .vcpus
                        .get(index)
                        .map_or(ret::INVALID_PARAMETERS, |vcpu| match vcpu.state().power() {
                            // Synchronous answers: a started CPU_ON is on.
                            PowerView::On | PowerView::OnPending => psci::AFFINITY_ON as i64,
                            PowerView::Off => psci::AFFINITY_OFF as i64,
                        })
                }
                _ => ret::INVALID_PARAMETERS,
            };
            set_result(frame, result);
        }
        psci::MIGRATE_INFO_TYPE => set_result(frame, psci::TOS_NOT_PRESENT_MP as i64),
        psci::SYSTEM_OFF => {
            return partition::stop_partition(
                caller.system,
                caller.partition,
                caller.vcpu,
                frame,
                Site::Hypercall,
                StopReason::PowerOff,
            )
            .into();
        }
        psci::SYSTEM_RESET => {
            // This vCPU leaves its guest (reset, superseded by another
            // vCPU's stop or reset, or stopped because it could not be
            // reset), unless a restore reloaded it while it waited.
            return partition::reset_partition(
                caller.system,
                caller.partition,
                caller.vcpu,
                frame,
                Site::Hypercall,
            )
            .into();
        }
        _ => set_result(frame, ret::NOT_SUPPORTED),
    }
    TrapOutcome::Resume
}

fn is_implemented(function: u32) -> bool {
    // SMCCC v1.1 discovery: a caller asks PSCI_FEATURES whether
    // SMCCC_VERSION exists before calling it.
    matches!(
        function,
        bulkhead_abi::arch::SMCCC_VERSION
            | psci::VERSION
            | psci::FEATURES
            | psci::CPU_SUSPEND_32
            | psci::CPU_SUSPEND_64
            | psci::CPU_OFF
            | psci::CPU_ON_32
            | psci::CPU_ON_64
            | psci::AFFINITY_INFO_32
            | psci::AFFINITY_INFO_64
            | psci::MIGRATE_INFO_TYPE
            | psci::SYSTEM_OFF
            | psci::SYSTEM_RESET
    )
}

/// The vCPU index a guest's virtual MPIDR names, if the partition has it.
fn vcpu_index(caller: &Caller, mpidr: u64) -> Option<usize> {
    // Virtual MPIDRs are 0..n-1 in Aff0; every other affinity field is 0.
    // Flag bits (31: RES1, 30: U, 24: MT) are not part of the affinity.
    let affinity = mpidr & 0xff_00ff_ffff;
    if affinity & !0xff != 0 {
        return None;
    }
    let index = affinity as usize;
    (index < caller.partition.vcpus.len()).then_some(index)
}

fn cpu_on(caller: &Caller, target: u64, entry: u64, context: u64) -> i64 {
    let Some(index) = vcpu_index(caller, target) else {
        return ret::INVALID_PARAMETERS;
    };
    if caller
        .partition
        .config
        .ipa_to_pa(bulkhead_core::address::Ipa(entry), 4)
        .is_none()
    {
        return ret::INVALID_ADDRESS;
    }
    // As a synchronous implementation answers: a target another CPU_ON
    // already started (it runs as soon as its core takes the request) is on.
    match partition::request_cpu_on(caller.partition, index, entry, context) {
        Ok(()) => ret::SUCCESS,
        Err(PowerOnRefused::AlreadyOn | PowerOnRefused::OnPending) => ret::ALREADY_ON,
    }
}
