//! PSCI calls a guest makes on its own partition, through `hvc`.

use crate::hypercall::{call, hvc};
use bulkhead_abi::psci;

/// PSCI_VERSION (major << 16 | minor).
pub fn version() -> i64 {
    call(psci::VERSION, 0, 0, 0)
}

/// PSCI_FEATURES for `function`: 0 (or feature flags) if implemented, -1 otherwise.
pub fn features(function: u32) -> i64 {
    call(psci::FEATURES, u64::from(function), 0, 0)
}

/// CPU_ON of the vCPU with virtual MPIDR `target`, entering at `entry` with x0 = `context`.
pub fn cpu_on_raw(target: u64, entry: u64, context: u64) -> i64 {
    call(psci::CPU_ON_64, target, entry, context)
}

/// CPU_ON at this runtime's secondary entry: the vCPU runs the guest's
/// secondary function with `context`.
pub fn cpu_on(target: u64, context: u64) -> i64 {
    cpu_on_raw(target, crate::entry::secondary_entry_address(), context)
}

/// AFFINITY_INFO at level 0: 0 on, 1 off, 2 on pending, or an error.
pub fn affinity_info(target: u64) -> i64 {
    call(psci::AFFINITY_INFO_64, target, 0, 0)
}

/// CPU_OFF: returns only if the call failed, with its error.
pub fn cpu_off() -> i64 {
    call(psci::CPU_OFF, 0, 0, 0)
}

/// SYSTEM_OFF of this partition; parks the vCPU if the call returns.
pub fn system_off() -> ! {
    let _ = hvc(psci::SYSTEM_OFF, [0; 6]);
    park()
}

/// SYSTEM_RESET of this partition; parks the vCPU if the call returns.
pub fn system_reset() -> ! {
    let _ = hvc(psci::SYSTEM_RESET, [0; 6]);
    park()
}

/// Waits forever with interrupts masked.
pub fn park() -> ! {
    loop {
        core::hint::spin_loop();
        // SAFETY: `wfe` only waits for an event; no memory or register effects.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}
