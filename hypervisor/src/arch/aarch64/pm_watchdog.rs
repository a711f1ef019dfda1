//! Powering a Raspberry Pi off through the Broadcom power-management watchdog (no PSCI there).
//!
//! As Linux's `bcm2835_wdt` does: mark the reset status with "partition
//! 63", then ask for a full reset; the firmware then halts instead of
//! booting again (QEMU raspi: the machine shuts down).

use core::sync::atomic::{AtomicU64, Ordering};

use bulkhead_core::address::PhysAddr;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    /// The watchdog part of the power-management block (BCM2835 ARM
    /// Peripherals, "PM"; Linux `drivers/watchdog/bcm2835_wdt.c`). Every
    /// write carries [`PASSWORD`] in its top byte.
    PmRegisters {
        (0x00 => _reserved0),
        /// Reset control: bits 5:4 the write configuration.
        (0x1c => rstc: ReadWrite<u32>),
        /// Reset status: the partition the firmware boots next.
        (0x20 => rsts: ReadWrite<u32>),
        /// Watchdog countdown, in 1/65536 s.
        (0x24 => wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

/// Base of the power-management block (identity-mapped device memory); 0 for none.
static BASE: AtomicU64 = AtomicU64::new(0);

const PASSWORD: u32 = 0x5a00_0000;
const VALUE_MASK: u32 = 0x00ff_ffff;
const RSTC_WRCFG_CLEAR: u32 = 0xffff_ffcf;
const RSTC_WRCFG_FULL_RESET: u32 = 0x20;
/// Partition 63 (its bits spread as 0x555): "halt" to the firmware.
const RSTS_PARTITION_63: u32 = 0x555;
const WDOG_TICKS: u32 = 10;

/// Records the block's base, from the board DT (boot CPU, once).
pub fn set_base(base: PhysAddr) {
    BASE.store(base.0, Ordering::Release);
}

/// Whether the board has one.
pub fn present() -> bool {
    BASE.load(Ordering::Acquire) != 0
}

fn registers() -> Option<&'static PmRegisters> {
    let base = BASE.load(Ordering::Acquire);
    if base == 0 {
        return None;
    }
    // SAFETY: `base` is the power-management block the board DT names, at
    // least 0x28 bytes (checked by the parser, the size of PmRegisters),
    // identity-mapped as device memory by the board map (a DT device node).
    Some(unsafe { &*(base as *const PmRegisters) })
}

/// Marks "halt" and lets the watchdog reset the SoC. Returns if there is
/// no block, or before the watchdog fires (the caller waits, then halts).
pub fn power_off() {
    let Some(pm) = registers() else {
        return;
    };
    pm.rsts
        .set(PASSWORD | (pm.rsts.get() & VALUE_MASK) | RSTS_PARTITION_63);
    pm.wdog.set(PASSWORD | WDOG_TICKS);
    let control = pm.rstc.get() & VALUE_MASK & RSTC_WRCFG_CLEAR;
    pm.rstc.set(PASSWORD | control | RSTC_WRCFG_FULL_RESET);
}

// The offsets the hardware has (checked at build time: this crate does not build for the host).
const _: () = assert!(core::mem::offset_of!(PmRegisters, rstc) == 0x1c);
const _: () = assert!(core::mem::offset_of!(PmRegisters, rsts) == 0x20);
const _: () = assert!(core::mem::offset_of!(PmRegisters, wdog) == 0x24);
const _: () = assert!(core::mem::size_of::<PmRegisters>() == 0x28);
