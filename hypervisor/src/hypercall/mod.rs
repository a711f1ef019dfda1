//! SMCCC dispatch of guest `hvc`/`smc` calls to PSCI, the Arm arch calls and Bulkhead's vendor calls.

mod arch_calls;
mod channel;
pub mod checkpoint;
mod psci;
mod vendor;

use bulkhead_abi::{owner, owners, ret};

use crate::arch::aarch64::exception::GuestFrame;
use crate::partition::{Partition, System, Vcpu};
use crate::trap::TrapOutcome;

/// Everything a call handler may need about its caller.
pub struct Caller<'a> {
    pub system: &'a System,
    pub partition: &'a Partition,
    pub vcpu: &'a Vcpu,
}

/// Handles the SMCCC call in `frame` (function ID in w0, args in x1..x6)
/// and writes its results into x0..x3.
pub fn dispatch(caller: &Caller, frame: &mut GuestFrame) -> TrapOutcome {
    // SMCCC: the function ID is w0; the upper half of x0 is ignored.
    let function = frame.x[0] as u32;
    match owner(function) {
        owners::ARCH => arch_calls::handle(function, frame),
        owners::STANDARD_SECURE => return psci::handle(caller, function, frame),
        owners::VENDOR_HYPERVISOR => {
            let function = bulkhead_abi::vendor::canonical(function);
            if (bulkhead_abi::vendor::CHECKPOINT_TAKE..=bulkhead_abi::vendor::CHECKPOINT_STATUS)
                .contains(&function)
                || function == bulkhead_abi::vendor::CHECKPOINT_CORRUPT_FOR_TEST
            {
                return checkpoint::handle(caller, function, frame);
            }
            if matches!(
                function,
                bulkhead_abi::vendor::CHANNEL_INFO | bulkhead_abi::vendor::CHANNEL_NOTIFY
            ) {
                channel::handle(caller, function, frame);
                return TrapOutcome::Resume;
            }
            vendor::handle(caller, function, frame)
        }
        _ => set_result(frame, ret::NOT_SUPPORTED),
    }
    TrapOutcome::Resume
}

/// CHANNEL_NOTIFY, for the trap handler's fast path.
pub fn channel_notify(caller: &Caller, frame: &mut GuestFrame) {
    channel::handle(caller, bulkhead_abi::vendor::CHANNEL_NOTIFY, frame);
}

/// Sets x0 to a signed SMCCC result.
fn set_result(frame: &mut GuestFrame, value: i64) {
    frame.x[0] = value as u64;
}
