//! Exceptions injected into a guest's EL1: the registers read to compute one and written to deliver it.

use bulkhead_core::external_abort::{Delivery, Features, Trapped};

use super::exception::GuestFrame;
use super::sysreg::read_sysreg;

/// The guest state a stage-2 abort trapped with: the syndrome, the faulting
/// VA, and the guest's PSTATE, PC and EL1 vector base and SCTLR (the guest's
/// EL1 registers are live on this core while its vCPU traps to EL2).
pub fn trapped_abort(frame: &GuestFrame) -> Trapped {
    Trapped {
        esr: read_sysreg!("esr_el2"),
        far: read_sysreg!("far_el2"),
        elr: frame.elr,
        spsr: frame.spsr,
        vbar: read_sysreg!("vbar_el1"),
        sctlr: read_sysreg!("sctlr_el1"),
    }
}

/// The guest state a trapped instruction (a system register or SME access)
/// trapped with: as for an abort, but FAR is the guest's own FAR_EL1, which
/// an UNDEFINED exception leaves as it is.
pub fn trapped_instruction(frame: &GuestFrame) -> Trapped {
    Trapped {
        far: read_sysreg!("far_el1"),
        ..trapped_abort(frame)
    }
}

/// What this core implements of the PSTATE fields exception entry sets
/// (EL2 reads the real ID registers, whatever the guest is shown).
pub fn pstate_features() -> Features {
    Features::from_id_registers(
        read_sysreg!("id_aa64mmfr1_el1"),
        read_sysreg!("id_aa64pfr1_el1"),
    )
}

/// Makes the guest take `delivery` when it resumes: its EL1 exception
/// registers as the exception sets them, and the frame returning to its
/// vector with the entry PSTATE.
pub fn deliver(frame: &mut GuestFrame, delivery: &Delivery) {
    // SAFETY: these are the guest's EL1 exception registers, which EL2
    // does not use (it runs on ESR/FAR/ELR/SPSR_EL2): writing them is what
    // the exception taken at EL1 would have done, and changes no memory
    // the compiler knows of.
    unsafe {
        core::arch::asm!(
            "msr esr_el1, {esr}",
            "msr far_el1, {far}",
            "msr elr_el1, {elr}",
            "msr spsr_el1, {spsr}",
            esr = in(reg) delivery.esr_el1,
            far = in(reg) delivery.far_el1,
            elr = in(reg) delivery.elr_el1,
            spsr = in(reg) delivery.spsr_el1,
            options(nomem, nostack, preserves_flags),
        );
    }
    frame.elr = delivery.vector;
    frame.spsr = delivery.pstate;
}
