//! What happens when a guest traps to EL2: decode the syndrome, then call, kick or fault.

use crate::arch::aarch64::exception::{ExceptionKind, GuestFrame};
use crate::arch::aarch64::{gic, sysreg::read_sysreg, vm};
use crate::fault;
use crate::hypercall::{self, Caller};
use crate::partition::system;
use crate::percpu;

/// What the vector code does after a handler.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapOutcome {
    /// Restore the frame and return to the guest.
    Resume = 0,
    /// Leave the guest; the core's run loop decides what comes next.
    Exit = 1,
}

/// Exception classes (ESR_EL2.EC) Bulkhead handles.
mod class {
    pub const HVC64: u64 = 0x16;
    pub const SMC64: u64 = 0x17;
    pub const SYSREG: u64 = 0x18;
    pub const INSTRUCTION_ABORT_LOWER: u64 = 0x20;
    pub const DATA_ABORT_LOWER: u64 = 0x24;
}

/// Called by the lower-EL vectors with the saved guest registers.
#[no_mangle]
extern "C" fn handle_guest_exception(frame: &mut GuestFrame, kind: u64) -> TrapOutcome {
    // The NULL call measures the bare trap round trip: answer it before
    // looking anything up.
    if kind == ExceptionKind::Sync as u64
        && vm::esr() >> 26 == class::HVC64
        && frame.x[0] as u32 == bulkhead_abi::vendor::NULL
    {
        frame.x[0] = bulkhead_abi::ret::SUCCESS as u64;
        return TrapOutcome::Resume;
    }
    let cpu = percpu::current_cpu();
    let Some(system) = system() else {
        return TrapOutcome::Exit;
    };
    let Some((partition, vcpu)) = system.assignment(cpu) else {
        return TrapOutcome::Exit;
    };
    match ExceptionKind::from_raw(kind) {
        ExceptionKind::Sync => {
            let esr = vm::esr();
            let caller = Caller {
                system,
                partition,
                vcpu,
            };
            match esr >> 26 {
                class::HVC64 => hypercall::dispatch(&caller, frame),
                class::SMC64 => {
                    // A trapped SMC returns to the SMC itself: step over it.
                    frame.elr = frame.elr.wrapping_add(4);
                    hypercall::dispatch(&caller, frame)
                }
                class::DATA_ABORT_LOWER | class::INSTRUCTION_ABORT_LOWER | class::SYSREG => {
                    fault::stop_for_fault(&caller, frame, esr)
                }
                _ => fault::stop_for_fault(&caller, frame, esr),
            }
        }
        ExceptionKind::Irq => {
            gic::drain_pending();
            if partition.generation() != percpu::run_generation(cpu) {
                TrapOutcome::Exit
            } else {
                TrapOutcome::Resume
            }
        }
        ExceptionKind::Fiq | ExceptionKind::SError | ExceptionKind::Aarch32 => {
            let caller = Caller {
                system,
                partition,
                vcpu,
            };
            fault::stop_for_fault(&caller, frame, read_sysreg!("esr_el2"))
        }
    }
}
