//! Calls from EL2 to the firmware's PSCI (SMC conduit): start cores, power off.
//!
//! Only if the firmware has PSCI: the board description says so before the
//! DT is read, the DT's `/psci` node after. Without it (Raspberry Pi 4) an
//! SMC has no EL3 to go to and is an undefined instruction, so none is
//! issued: powering off goes through the board's power-management watchdog
//! if it has one (Raspberry Pi), else halts the calling core; the arch
//! calls answer NOT_SUPPORTED.

use core::sync::atomic::{AtomicBool, Ordering};

use bulkhead_abi::psci;
use bulkhead_platform::current::PLATFORM;

static FIRMWARE_PSCI: AtomicBool = AtomicBool::new(PLATFORM.firmware_psci);

/// Records whether the board DT describes PSCI firmware (boot CPU, once).
pub fn set_psci_present(present: bool) {
    FIRMWARE_PSCI.store(present, Ordering::Release);
}

/// Whether the firmware implements PSCI.
pub fn psci_present() -> bool {
    FIRMWARE_PSCI.load(Ordering::Acquire)
}

/// Stops the calling core for good when there is no firmware to ask.
fn halt() -> ! {
    loop {
        super::sysreg::wait_for_interrupt();
    }
}

/// Issues an SMCCC fast call to the firmware and returns x0.
fn smc(function: u32, arg1: u64, arg2: u64, arg3: u64) -> i64 {
    let result: i64;
    // SAFETY: an SMC to the firmware's PSCI implementation; SMCCC 1.1 says
    // x4..x17 are preserved, and we mark x0..x3 clobbered.
    unsafe {
        core::arch::asm!(
            "smc #0",
            inout("x0") function as u64 => result,
            inout("x1") arg1 => _,
            inout("x2") arg2 => _,
            inout("x3") arg3 => _,
            options(nostack),
        )
    };
    result
}

/// Starts the core `mpidr` at physical `entry` in EL2 with x0 = `context`.
pub fn cpu_on(mpidr: u64, entry: u64, context: u64) -> Result<(), i64> {
    if !psci_present() {
        return Err(bulkhead_abi::ret::NOT_SUPPORTED);
    }
    match smc(psci::CPU_ON_64, mpidr, entry, context) {
        0 => Ok(()),
        error => Err(error),
    }
}

/// Powers the calling core off. Does not return on success.
pub fn cpu_off() -> i64 {
    if !psci_present() {
        halt();
    }
    smc(psci::CPU_OFF, 0, 0, 0)
}

/// Powers the whole machine off (without PSCI: says so, and halts this core).
pub fn system_off() -> ! {
    if !psci_present() {
        if super::pm_watchdog::present() {
            crate::println!("bulkhead: no PSCI firmware: powering off through the BCM2835 power-management watchdog");
            crate::console::flush_bounded();
            super::pm_watchdog::power_off();
            // The watchdog fires after 10/65536 s on the board; QEMU
            // raspi takes the reset as a shutdown request its main loop
            // carries out later, which on a loaded host took over 100 ms.
            // Only the line below waits for this (this core halts either
            // way), so wait long before saying the power-off failed.
            let deadline = super::timer::Deadline::after_ms(5000);
            while !deadline.passed() {
                core::hint::spin_loop();
            }
        }
        crate::println!("bulkhead: no PSCI firmware to power the machine off; halting");
        crate::console::flush_bounded();
        halt();
    }
    smc(psci::SYSTEM_OFF, 0, 0, 0);
    loop {
        super::sysreg::wait_for_interrupt();
    }
}

/// Asks the firmware whether it implements an SMCCC arch call (SMCCC_ARCH_FEATURES).
pub fn arch_features(function: u32) -> i64 {
    if !psci_present() {
        return bulkhead_abi::ret::NOT_SUPPORTED;
    }
    if smc(bulkhead_abi::arch::SMCCC_VERSION, 0, 0, 0) < 0x1_0001 {
        return bulkhead_abi::ret::NOT_SUPPORTED;
    }
    smc(
        bulkhead_abi::arch::SMCCC_ARCH_FEATURES,
        function as u64,
        0,
        0,
    )
}

/// Forwards an SMCCC arch workaround call to the firmware.
pub fn arch_workaround(function: u32, arg1: u64) -> i64 {
    if !psci_present() {
        return bulkhead_abi::ret::NOT_SUPPORTED;
    }
    smc(function, arg1, 0, 0)
}
