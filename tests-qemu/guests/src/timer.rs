//! The generic timer's virtual counter: timestamps and busy-wait delays.

use core::arch::asm;

/// Reads CNTVCT_EL0 after an ISB so the read is not hoisted over earlier work.
#[inline(always)]
pub fn now() -> u64 {
    let ticks: u64;
    // SAFETY: reading the virtual counter has no side effects; EL1 may always read it.
    unsafe { asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// CNTFRQ_EL0: counter ticks per second.
pub fn frequency() -> u64 {
    let frequency: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack)) };
    frequency
}

/// Counter ticks in `ms` milliseconds (at least one tick).
pub fn ticks_from_ms(ms: u64) -> u64 {
    (frequency().saturating_mul(ms) / 1000).max(1)
}

/// Spins until `ms` milliseconds of counter time have passed.
pub fn delay_ms(ms: u64) {
    let end = now().saturating_add(ticks_from_ms(ms));
    while now() < end {
        core::hint::spin_loop();
    }
}

/// Counter time since `start`, in milliseconds.
pub fn elapsed_ms(start: u64) -> u64 {
    let frequency = frequency().max(1);
    now().saturating_sub(start).saturating_mul(1000) / frequency
}

/// CNTV_CTL_EL0.ENABLE.
const CNTV_ENABLE: u64 = 1 << 0;

/// Arms this vCPU's virtual timer to fire when CNTVCT reaches `deadline`
/// (its interrupt is PPI 27, which the guest enables in the GIC).
pub fn arm_virtual(deadline: u64) {
    program_virtual(deadline, CNTV_ENABLE);
}

/// CNTV_CTL_EL0.IMASK.
const CNTV_IMASK: u64 = 1 << 1;

/// Arms this vCPU's virtual timer for `deadline` with its interrupt masked:
/// nothing is delivered, but the emulator sees a timer deadline (see
/// `ckpt_steady`, which paces QEMU's round-robin with it).
pub fn arm_virtual_masked(deadline: u64) {
    program_virtual(deadline, CNTV_ENABLE | CNTV_IMASK);
}

fn program_virtual(deadline: u64, ctl: u64) {
    // SAFETY: programming this vCPU's own virtual timer; the compare value
    // is written before the control register enables it.
    unsafe {
        asm!(
            "msr cntv_cval_el0, {deadline}",
            "msr cntv_ctl_el0, {ctl}",
            "isb",
            deadline = in(reg) deadline,
            ctl = in(reg) ctl,
            options(nomem, nostack),
        )
    };
}

/// Moves an armed virtual timer's deadline (from its interrupt handler).
pub fn set_virtual_deadline(deadline: u64) {
    // SAFETY: writing this vCPU's own compare value; the new value takes
    // effect at the ISB, which also drops the timer's output if the deadline
    // is now in the future.
    unsafe { asm!("msr cntv_cval_el0, {}", "isb", in(reg) deadline, options(nomem, nostack)) };
}

/// CNTV_CVAL_EL0: the current deadline.
pub fn virtual_deadline() -> u64 {
    let deadline: u64;
    // SAFETY: reading the compare value has no side effects.
    unsafe { asm!("mrs {}, cntv_cval_el0", out(reg) deadline, options(nomem, nostack)) };
    deadline
}

/// Switches this vCPU's virtual timer off (its interrupt line drops).
pub fn stop_virtual() {
    // SAFETY: disabling this vCPU's own virtual timer.
    unsafe { asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}
