//! Per-core state: which logical CPU this is.

use aarch64_cpu::registers::{Readable, Writeable, TPIDR_EL2};

/// Records this core's logical id (kept in TPIDR_EL2, which guests cannot see).
pub fn set_current_cpu(cpu: usize) {
    TPIDR_EL2.set(cpu as u64);
}

pub fn current_cpu() -> usize {
    TPIDR_EL2.get() as usize
}
