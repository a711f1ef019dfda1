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
