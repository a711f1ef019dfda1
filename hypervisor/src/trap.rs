//! What happens when a guest traps to EL2: decode the syndrome, then call, kick or fault.

use crate::arch::aarch64::exception::{ExceptionKind, GuestFrame};
use crate::arch::aarch64::{sysreg::read_sysreg, vm};
use crate::fault;
use crate::hypercall::{self, Caller};
use crate::partition::{checkpoint, system};
use crate::percpu;
use crate::{irq, mmio};

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
    handle_trap(frame, kind)
}

/// Everything but the NULL call; kept out of line so that the NULL call's
/// path does not pay for this function's prologue.
#[inline(never)]
fn handle_trap(frame: &mut GuestFrame, kind: u64) -> TrapOutcome {
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
                class::DATA_ABORT_LOWER
                    if is_write_permission_fault(esr)
                        && checkpoint::handle_write_fault(partition, vm::fault_ipa()) =>
                {
                    // Re-run the write, now allowed.
                    TrapOutcome::Resume
                }
                class::DATA_ABORT_LOWER => match mmio::handle_data_abort(&caller, frame, esr) {
                    Some(outcome) => outcome,
                    None => fault::stop_for_fault(&caller, frame, esr),
                },
                class::SYSREG => match sgi_register_write(esr) {
                    Some(register) => {
                        let value = if register == 31 { 0 } else { frame.x[register] };
                        irq::send_sgi(partition, vcpu, value);
                        frame.elr = frame.elr.wrapping_add(4);
                        TrapOutcome::Resume
                    }
                    None => fault::stop_for_fault(&caller, frame, esr),
                },
                _ => fault::stop_for_fault(&caller, frame, esr),
            }
        }
        ExceptionKind::Irq => irq::handle_physical_irqs(partition, vcpu, cpu, frame),
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

/// If a trapped system-register access (EC 0x18) is a write of an SGI
/// generation register (ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1),
/// the general-purpose register holding the value.
fn sgi_register_write(esr: u64) -> Option<usize> {
    let iss = esr & 0x1ff_ffff;
    let is_read = iss & 1 != 0;
    let op0 = (iss >> 20) & 0b11;
    let op2 = (iss >> 17) & 0b111;
    let op1 = (iss >> 14) & 0b111;
    let crn = (iss >> 10) & 0xf;
    let crm = (iss >> 1) & 0xf;
    let register = ((iss >> 5) & 0x1f) as usize;
    // S3_0_C12_C11_{5,6,7}
    (!is_read && op0 == 3 && op1 == 0 && crn == 12 && crm == 11 && (5..=7).contains(&op2))
        .then_some(register)
}

/// A data abort that is a stage-2 permission fault on a write (DFSC
/// 0b0011xx, WnR set): how checkpoint tracking sees the first write to a page.
fn is_write_permission_fault(esr: u64) -> bool {
    let dfsc = esr & 0x3f;
    let write = esr & (1 << 6) != 0;
    write && (0x0c..=0x0f).contains(&dfsc)
}
