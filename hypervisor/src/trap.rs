//! What happens when a guest traps to EL2: decode the syndrome, then call, kick or fault.

use crate::arch::aarch64::exception::{ExceptionKind, GuestFrame};
use crate::arch::aarch64::{id_registers, sysreg::read_sysreg, vm};
use crate::fault;
use crate::hypercall::{self, Caller};
use crate::partition::protocol::Site;
use crate::partition::TrapCounters;
use crate::partition::{checkpoint, leave_requested, resident, Placement, System};
use crate::percpu;
use crate::{irq, mmio};
use bulkhead_core::cpu_features::IdRegister;
use bulkhead_core::decode::{
    DataAbort, Esr, ExceptionClass, InstructionAbort, SGI1R_WRITE_ESR, SGI1R_WRITE_ESR_MASK,
};

/// What the vector code does after a handler.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapOutcome {
    /// Restore the frame and return to the guest.
    Resume = 0,
    /// Leave the guest; the core's run loop decides what comes next.
    Exit = 1,
}

impl From<crate::partition::Then> for TrapOutcome {
    fn from(then: crate::partition::Then) -> Self {
        match then {
            crate::partition::Then::Leave => TrapOutcome::Exit,
            crate::partition::Then::Resume => TrapOutcome::Resume,
        }
    }
}

/// Called by the lower-EL vectors with the saved guest registers.
#[no_mangle]
extern "C" fn handle_guest_exception(frame: &mut GuestFrame, kind: u64) -> TrapOutcome {
    handle_trap(frame, kind)
}

/// This core's partition and vCPU, for a fast path; None (the general path
/// takes the exception) if the core runs none, or, with `quiet`, if a
/// request already waits in the vCPU's mailbox (the general path's to take).
#[inline(always)]
fn fast_placement(quiet: bool) -> Option<(&'static System, Placement<'static>)> {
    let (system, placement) = resident(percpu::current_cpu())?;
    if quiet && !placement.vcpu.cell.mailbox.peek().is_empty() {
        return None;
    }
    Some((system, placement))
}

/// The placement as the handlers and the dispatcher take it.
#[inline(always)]
fn caller_of(system: &'static System, placement: Placement<'static>) -> Caller<'static> {
    Caller {
        system,
        partition: placement.partition,
        vcpu: placement.vcpu,
    }
}

/// An HVC's fast path, called with only x0-x18 and x30 saved in `frame`
/// (x19-x29, ELR and SPSR are not): answers the calls that need nothing
/// else and returns `Resume`, or returns `Exit`, having done nothing, to
/// send the call down the general path with the frame completed.
#[no_mangle]
extern "C" fn handle_guest_hvc_fast(frame: &mut GuestFrame) -> TrapOutcome {
    hvc_fast(frame)
}

/// A write-permission data abort's fast path (the vector checked the
/// syndrome), with the frame as for [`handle_guest_hvc_fast`].
#[no_mangle]
extern "C" fn handle_guest_write_fault_fast(_frame: &mut GuestFrame) -> TrapOutcome {
    first_write_fast()
}

/// A load from unmapped IPA with a valid syndrome into x0-x18 (the vector
/// checked the syndrome): an emulated device's register (a GICD read, say)
/// is read here, with the frame as for [`handle_guest_hvc_fast`]; anything
/// else goes the general way, untouched.
#[no_mangle]
extern "C" fn handle_guest_mmio_read_fast(frame: &mut GuestFrame) -> TrapOutcome {
    let Some((system, placement)) = fast_placement(true) else {
        return TrapOutcome::Exit;
    };
    let caller = caller_of(system, placement);
    let abort = DataAbort::from_iss(Esr(vm::esr()).iss());
    // x19-x29 are not in this frame: a load into one takes the general path
    // (the vector sends none; this keeps that true whatever it checks).
    if abort.write
        || abort.register.number() > FAST_PATH_LAST_REGISTER
        || mmio::emulate(&caller, frame, &abort).is_none()
    {
        return TrapOutcome::Exit;
    }
    // Counted as the general path counts it.
    TrapCounters::bump(&caller.partition.traps.mmio);
    vm::step_over_trapped_instruction();
    TrapOutcome::Resume
}

/// An IRQ exit's fast path, with the frame as for [`handle_guest_hvc_fast`]
/// (see `irq::handle_fast`).
#[no_mangle]
extern "C" fn handle_guest_irq_fast(_frame: &mut GuestFrame) -> TrapOutcome {
    let Some((system, placement)) = fast_placement(false) else {
        return TrapOutcome::Exit;
    };
    let outcome = irq::handle_fast(system, placement.partition, placement.index, placement.vcpu);
    // Counted as the general path counts it (which does when this exits).
    if outcome == TrapOutcome::Resume {
        TrapCounters::bump(&placement.partition.traps.irq);
    }
    outcome
}

/// A write of ICC_SGI1R_EL1 from x0-x18 (the vector checked the syndrome),
/// with the frame as for [`handle_guest_hvc_fast`]: the SGI is delivered
/// as on the general path.
#[no_mangle]
extern "C" fn handle_guest_sgi_fast(frame: &mut GuestFrame) -> TrapOutcome {
    let Some((_, placement)) = fast_placement(true) else {
        return TrapOutcome::Exit;
    };
    // The vector matched the syndrome; checked again here in one compare
    // rather than decoded (ISS but for Rt, bits 9:5, as the vector has it).
    let esr = vm::esr();
    let register = ((esr >> 5) & 0x1f) as usize;
    if esr & SGI1R_WRITE_ESR_MASK != SGI1R_WRITE_ESR
        || register > usize::from(FAST_PATH_LAST_REGISTER)
    {
        return TrapOutcome::Exit;
    }
    let traps = &placement.partition.traps;
    TrapCounters::bump(&traps.sysreg);
    TrapCounters::bump(&traps.sgis);
    irq::send_sgi(placement.partition, placement.vcpu, frame.x[register]);
    vm::step_over_trapped_instruction();
    TrapOutcome::Resume
}

/// The last general register a fast path's frame holds (x0-x18; x30 too).
const FAST_PATH_LAST_REGISTER: u8 = 18;

#[inline(always)]
fn hvc_fast(frame: &mut GuestFrame) -> TrapOutcome {
    match frame.x[0] as u32 {
        // The NULL call measures the bare trap round trip: answer it
        // before looking anything up.
        bulkhead_abi::vendor::NULL => {
            frame.x[0] = bulkhead_abi::ret::SUCCESS as u64;
            TrapOutcome::Resume
        }
        // A doorbell is on the channels' latency path: no generic dispatch.
        // (`notify` returns Exit only before doing anything, when the core
        // runs no partition; the general path then finds the same.)
        bulkhead_abi::vendor::CHANNEL_NOTIFY => notify(frame),
        // What no part of the dispatcher serves is answered here, as it
        // would be there (a conformance probe's unknown ID, say).
        function if !bulkhead_abi::may_be_served(function) => unserved(frame),
        _ => TrapOutcome::Exit,
    }
}

/// A write-permission fault that checkpoint tracking takes (the first write
/// to a protected page) is over here; any other goes the general way.
fn first_write_fast() -> TrapOutcome {
    let Some((system, placement)) = fast_placement(false) else {
        return TrapOutcome::Exit;
    };
    let caller = caller_of(system, placement);
    match first_write(&caller) {
        Some(outcome) => {
            // Counted as the general path counts it: a data abort.
            TrapCounters::bump(&caller.partition.traps.mmio);
            outcome
        }
        None => TrapOutcome::Exit,
    }
}

/// CHANNEL_NOTIFY (64-bit form), straight to its handler. A request posted
/// to this vCPU meanwhile is taken at the next exit, which its kick brings
/// at once.
#[inline(never)]
fn notify(frame: &mut GuestFrame) -> TrapOutcome {
    let Some((system, placement)) = fast_placement(false) else {
        return TrapOutcome::Exit;
    };
    TrapCounters::bump(&placement.partition.traps.hypercall);
    let caller = caller_of(system, placement);
    hypercall::channel_notify(&caller, frame);
    TrapOutcome::Resume
}

/// An HVC whose function ID Bulkhead does not serve: counted, answered
/// NOT_SUPPORTED. A request posted to this vCPU meanwhile is taken at the
/// next exit, which its kick brings at once.
#[inline(always)]
fn unserved(frame: &mut GuestFrame) -> TrapOutcome {
    percpu::count_unserved_call();
    frame.x[0] = bulkhead_abi::ret::NOT_SUPPORTED as u64;
    TrapOutcome::Resume
}

/// Everything but the NULL call; kept out of line so that the NULL call's
/// path does not pay for this function's prologue.
#[inline(never)]
fn handle_trap(frame: &mut GuestFrame, kind: u64) -> TrapOutcome {
    let Some((system, placement)) = resident(percpu::current_cpu()) else {
        return TrapOutcome::Exit;
    };
    let (partition, vcpu) = (placement.partition, placement.vcpu);
    let caller = caller_of(system, placement);
    let outcome = match ExceptionKind::from_raw(kind) {
        ExceptionKind::Sync => handle_sync(&caller, frame),
        ExceptionKind::Irq => {
            TrapCounters::bump(&partition.traps.irq);
            return irq::handle_physical_irqs(system, partition, placement.index, vcpu, frame);
        }
        ExceptionKind::Fiq | ExceptionKind::SError | ExceptionKind::Aarch32 => {
            fault::stop_for_fault(&caller, frame, read_sysreg!("esr_el2"))
        }
    };
    // Requests that arrived while the trap was handled are taken before
    // the guest runs again (their kick would bring it straight back anyway).
    if outcome == TrapOutcome::Resume
        && !vcpu.cell.mailbox.peek().is_empty()
        && leave_requested(partition, vcpu, frame, Site::Interrupted)
    {
        return TrapOutcome::Exit;
    }
    outcome
}

/// A synchronous exception: a call, a fault, or a trapped register access.
fn handle_sync(caller: &Caller, frame: &mut GuestFrame) -> TrapOutcome {
    let esr = vm::esr();
    let traps = &caller.partition.traps;
    TrapCounters::bump(match Esr(esr).class() {
        ExceptionClass::Hvc64 | ExceptionClass::Smc64 => &traps.hypercall,
        ExceptionClass::DataAbortLower => &traps.mmio,
        ExceptionClass::SysReg => &traps.sysreg,
        _ => &traps.other,
    });
    match Esr(esr).class() {
        ExceptionClass::Hvc64 => hypercall::dispatch(caller, frame),
        ExceptionClass::Smc64 => {
            // A trapped SMC returns to the SMC itself: step over it.
            frame.elr = frame.elr.wrapping_add(4);
            hypercall::dispatch(caller, frame)
        }
        // Decoded once: emulated MMIO (a GICD read, say) is the hot case.
        ExceptionClass::DataAbortLower => {
            let abort = DataAbort::from_iss(Esr(esr).iss());
            if abort.is_write_permission_fault() {
                if let Some(outcome) = first_write(caller) {
                    return outcome;
                }
            }
            match mmio::handle_data_abort(caller, frame, &abort) {
                Some(outcome) => outcome,
                None => fault::stage2_abort(caller, frame, esr),
            }
        }
        ExceptionClass::InstructionAbortLower => {
            let abort = InstructionAbort::from_iss(Esr(esr).iss());
            match abort.is_walk_write_permission_fault() {
                true => first_write(caller),
                false => None,
            }
            .unwrap_or_else(|| fault::stage2_abort(caller, frame, esr))
        }
        ExceptionClass::SysReg => match sgi_register_write(esr) {
            Some(register) => {
                let value = if register == 31 { 0 } else { frame.x[register] };
                TrapCounters::bump(&caller.partition.traps.sgis);
                irq::send_sgi(caller.partition, caller.vcpu, value);
                frame.elr = frame.elr.wrapping_add(4);
                TrapOutcome::Resume
            }
            None => match id_register_read(esr) {
                Some((id, register)) => {
                    if register != 31 {
                        frame.x[register] = id_registers::guest_read(id);
                    }
                    frame.elr = frame.elr.wrapping_add(4);
                    TrapOutcome::Resume
                }
                None if hidden_feature_register(esr) => fault::undefined(caller, frame, esr),
                None => fault::stop_for_fault(caller, frame, esr),
            },
        },
        ExceptionClass::Sme => fault::undefined(caller, frame, esr),
        _ => fault::stop_for_fault(caller, frame, esr),
    }
}

/// If a trapped system-register access (EC 0x18) is a write of an SGI
/// generation register (ICC_SGI1R_EL1, ICC_ASGI1R_EL1, ICC_SGI0R_EL1),
/// the general-purpose register holding the value (31: xzr).
fn sgi_register_write(esr: u64) -> Option<usize> {
    let access = bulkhead_core::decode::Esr(esr).sys_reg_access()?;
    access
        .sgi_register()
        .map(|_| usize::from(access.register.number()))
}

/// If a trapped system-register access is a read of an ID register
/// (HCR_EL2.TID3), which one and the general register to read it into.
fn id_register_read(esr: u64) -> Option<(IdRegister, usize)> {
    let access = bulkhead_core::decode::Esr(esr).sys_reg_access()?;
    IdRegister::read_by(&access).map(|id| (id, usize::from(access.register.number())))
}

/// Whether a trapped system-register access names a register of a feature
/// guests are not shown (`cpu_features::is_hidden_feature_register`).
fn hidden_feature_register(esr: u64) -> bool {
    bulkhead_core::decode::Esr(esr)
        .sys_reg_access()
        .is_some_and(|access| bulkhead_core::cpu_features::is_hidden_feature_register(&access))
}

/// A stage-2 permission fault that is a write (a data abort with WnR, or a
/// stage-1 table walk of a load or fetch updating a descriptor: FEAT_HAFDBS
/// cores, -cpu max and neoverse-v1) is how checkpoint tracking sees the
/// first write to a page: if tracking takes it, the access runs again with
/// its write now allowed.
fn first_write(caller: &Caller) -> Option<TrapOutcome> {
    checkpoint::handle_write_fault(caller.partition, vm::fault_ipa()).then(|| {
        TrapCounters::bump(&caller.partition.traps.write_faults);
        TrapOutcome::Resume
    })
}
