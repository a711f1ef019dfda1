//! Per-core state: which logical CPU this is, the hypercalls it answered without the dispatcher, and an interrupt its fast IRQ path acknowledged but left to the general one.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, Writeable, TPIDR_EL2};
use bulkhead_platform::current::PLATFORM;

/// Hypercalls each core answered on the unserved-ID fast path: counted
/// per core (each core runs one vCPU for its whole life) so that path
/// needs no partition lookup; STATS adds a partition's cores' counts.
static UNSERVED_CALLS: [AtomicU64; PLATFORM.max_cpus] =
    [const { AtomicU64::new(0) }; PLATFORM.max_cpus];

/// Counts an unserved hypercall on this core.
#[inline(always)]
pub fn count_unserved_call() {
    // Only this core writes its counter: a load and a store, no atomic
    // read-modify-write (readers see one value or the next).
    if let Some(counter) = UNSERVED_CALLS.get(current_cpu()) {
        counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// Unserved hypercalls answered on core `cpu` so far.
pub fn unserved_calls(cpu: usize) -> u64 {
    UNSERVED_CALLS
        .get(cpu)
        .map_or(0, |counter| counter.load(Ordering::Relaxed))
}

/// Records this core's logical id (kept in TPIDR_EL2, which guests cannot see).
pub fn set_current_cpu(cpu: usize) {
    TPIDR_EL2.set(cpu as u64);
}

pub fn current_cpu() -> usize {
    TPIDR_EL2.get() as usize
}

/// No interrupt is handed over (an INTID no GIC acknowledges).
const NONE_HANDED_OVER: u32 = u32::MAX;

/// Per core: an interrupt the fast IRQ path acknowledged (its priority not
/// yet dropped) and left to the general path, which takes it first.
static HANDED_OVER: [AtomicU32; PLATFORM.max_cpus] =
    [const { AtomicU32::new(NONE_HANDED_OVER) }; PLATFORM.max_cpus];

/// Leaves the acknowledged `intid` to this core's general IRQ path.
pub fn hand_over_interrupt(intid: u32) {
    if let Some(slot) = HANDED_OVER.get(current_cpu()) {
        slot.store(intid, Ordering::Relaxed);
    }
}

/// The interrupt the fast path left to this core's general path, if any (taken).
pub fn take_handed_over_interrupt() -> Option<u32> {
    let slot = HANDED_OVER.get(current_cpu())?;
    match slot.load(Ordering::Relaxed) {
        NONE_HANDED_OVER => None,
        intid => {
            slot.store(NONE_HANDED_OVER, Ordering::Relaxed);
            Some(intid)
        }
    }
}
