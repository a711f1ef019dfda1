//! Powering a Raspberry Pi off through the Broadcom power-management watchdog (no PSCI there).
//!
//! As Linux's `bcm2835_wdt` does: mark the reset status with "partition
//! 63", then ask for a full reset; the firmware then halts instead of
//! booting again (QEMU raspi: the machine shuts down).

use core::sync::atomic::{AtomicU64, Ordering};

/// Base of the power-management block (identity-mapped device memory); 0 for none.
static BASE: AtomicU64 = AtomicU64::new(0);

/// Every write needs this in the top byte.
const PASSWORD: u32 = 0x5a00_0000;
/// Reset control: write configuration field, and "full reset" in it.
const RSTC: u64 = 0x1c;
const RSTC_WRCFG_CLEAR: u32 = 0xffff_ffcf;
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// Reset status: the partition the firmware boots next; 63 (bits spread as 0x555) is "halt".
const RSTS: u64 = 0x20;
const RSTS_PARTITION_63: u32 = 0x555;
/// Watchdog countdown, in 1/65536 s.
const WDOG: u64 = 0x24;
const WDOG_TICKS: u32 = 10;

/// Records the block's base, from the board DT (boot CPU, once).
pub fn set_base(base: u64) {
    BASE.store(base, Ordering::Release);
}

/// Whether the board has one.
pub fn present() -> bool {
    BASE.load(Ordering::Acquire) != 0
}

fn read(offset: u64) -> u32 {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: `base` is the power-management block the board DT names,
    // at least 0x28 bytes (checked by the parser), identity-mapped as
    // device memory; these are aligned 32-bit register reads.
    unsafe { ((base + offset) as *const u32).read_volatile() }
}

fn write(offset: u64, value: u32) {
    let base = BASE.load(Ordering::Acquire);
    // SAFETY: as in `read`; a register write with the block's password.
    unsafe { ((base + offset) as *mut u32).write_volatile(PASSWORD | value) };
}

/// Marks "halt" and lets the watchdog reset the SoC. Returns if there is
/// no block (the caller halts the core then).
pub fn power_off() {
    if !present() {
        return;
    }
    let status = read(RSTS) & 0x00ff_ffff;
    write(RSTS, status | RSTS_PARTITION_63);
    write(WDOG, WDOG_TICKS);
    let control = read(RSTC) & 0x00ff_ffff & RSTC_WRCFG_CLEAR;
    write(RSTC, control | RSTC_WRCFG_FULL_RESET);
}
