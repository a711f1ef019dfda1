//! Per-core state: which logical CPU this is, and the generation its guest run started under.

use core::sync::atomic::{AtomicU32, Ordering};

use aarch64_cpu::registers::{Readable, Writeable, TPIDR_EL2};
use bulkhead_platform::current::PLATFORM;

const MAX_CPUS: usize = PLATFORM.max_cpus;

static RUN_GENERATION: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// Records this core's logical id (kept in TPIDR_EL2, which guests cannot see).
pub fn set_current_cpu(cpu: usize) {
    TPIDR_EL2.set(cpu as u64);
}

pub fn current_cpu() -> usize {
    TPIDR_EL2.get() as usize
}

pub fn set_run_generation(cpu: usize, generation: u32) {
    if let Some(slot) = RUN_GENERATION.get(cpu) {
        slot.store(generation, Ordering::Release);
    }
}

pub fn run_generation(cpu: usize) -> u32 {
    RUN_GENERATION
        .get(cpu)
        .map_or(u32::MAX, |slot| slot.load(Ordering::Acquire))
}
