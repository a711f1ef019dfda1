//! The generic timer's virtual counter, for ping timings; absent off aarch64.

/// CNTVCT_EL0 now (after an ISB, so it is not read early).
#[cfg(target_arch = "aarch64")]
pub fn ticks() -> Option<u64> {
    let value: u64;
    // SAFETY: reads a system register Linux lets EL0 read (it is what the
    // vDSO clock uses; where an erratum makes it trap, the kernel emulates
    // it); no memory or flags are touched.
    unsafe {
        core::arch::asm!(
            "isb",
            "mrs {value}, cntvct_el0",
            value = out(reg) value,
            options(nomem, nostack, preserves_flags)
        );
    }
    Some(value)
}

/// CNTFRQ_EL0: counter ticks per second.
#[cfg(target_arch = "aarch64")]
pub fn frequency() -> Option<u64> {
    let value: u64;
    // SAFETY: as in `ticks`: an EL0-readable system register, no memory touched.
    unsafe {
        core::arch::asm!(
            "mrs {value}, cntfrq_el0",
            value = out(reg) value,
            options(nomem, nostack, preserves_flags)
        );
    }
    Some(value)
}

/// No generic timer off aarch64.
#[cfg(not(target_arch = "aarch64"))]
pub fn ticks() -> Option<u64> {
    None
}

/// No generic timer off aarch64.
#[cfg(not(target_arch = "aarch64"))]
pub fn frequency() -> Option<u64> {
    None
}
