//! Guest `abort_probe`: reads, writes and jumps to IPAs outside its map and takes its own aborts, then goes on.
//!
//! With `stage2-fault = "deliver"` Bulkhead turns each stage-2 fault into a
//! synchronous external abort at this guest's EL1. Its hook records the
//! syndrome, steps over a faulting load or store, and returns from a
//! faulting branch to the caller (x30, set by `blr`). Prints one line per
//! kind of abort with what EL1 saw, then a 1,000-fault loop's count and the
//! sum of the fault addresses it saw, then `abort_probe done`.
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use bulkhead_guests::exception::{set_sync_hook, SyncException};
use bulkhead_guests::{guest_main, println, psci, BootInfo};

/// Outside the partition's map (its RAM is 16 MiB at 0x4000_0000), inside
/// the stage-1 identity map's Normal part.
pub const DATA_IPA: u64 = 0x7000_0000;
/// Where the probe branches: outside the map, executable at stage 1.
pub const FETCH_IPA: u64 = 0x8000_0000;
/// Faults in the loop, spread over this many pages.
pub const LOOP_FAULTS: u64 = 1000;
pub const LOOP_PAGES: u64 = 64;

/// ESR_EL1.EC of a data / instruction abort taken without a change of EL.
const EC_DATA_ABORT_SAME_EL: u64 = 0x25;
const EC_INSTRUCTION_ABORT_SAME_EL: u64 = 0x21;

static ABORTS: AtomicU64 = AtomicU64::new(0);
static LAST_ESR: AtomicU64 = AtomicU64::new(0);
static LAST_FAR: AtomicU64 = AtomicU64::new(0);
static LAST_ELR: AtomicU64 = AtomicU64::new(0);
static LAST_KIND: AtomicU64 = AtomicU64::new(0);

/// Records an abort and says where to resume; anything else is not ours.
fn on_sync(exception: &mut SyncException<'_>) -> Option<u64> {
    let resume = match exception.esr >> 26 {
        // Step over the load or store.
        EC_DATA_ABORT_SAME_EL => exception.elr.wrapping_add(4),
        // Back to the instruction after the `blr` that jumped here.
        EC_INSTRUCTION_ABORT_SAME_EL => exception.frame.x[30],
        _ => return None,
    };
    LAST_ESR.store(exception.esr, Ordering::Relaxed);
    LAST_FAR.store(exception.far, Ordering::Relaxed);
    LAST_ELR.store(exception.elr, Ordering::Relaxed);
    LAST_KIND.store(exception.kind, Ordering::Relaxed);
    ABORTS.fetch_add(1, Ordering::Relaxed);
    Some(resume)
}

/// Prints what the last abort showed EL1, with the PC it should name.
fn report(what: &str, expected_elr: u64) {
    println!(
        "abort_probe {what} esr={:#x} far={:#x} elr={:#x} expected_elr={:#x} vector={} aborts={}",
        LAST_ESR.load(Ordering::Relaxed),
        LAST_FAR.load(Ordering::Relaxed),
        LAST_ELR.load(Ordering::Relaxed),
        expected_elr,
        LAST_KIND.load(Ordering::Relaxed),
        ABORTS.load(Ordering::Relaxed),
    );
}

/// A load from `address`; returns the load instruction's address.
fn load(address: u64) -> u64 {
    let pc: u64;
    // SAFETY: the load faults (its address is outside the map) and the hook
    // steps over it; the destination is a scratch register.
    unsafe {
        asm!(
            "adr {pc}, 1f",
            "1: ldr {value}, [{address}]",
            pc = out(reg) pc,
            value = out(reg) _,
            address = in(reg) address,
            options(nostack),
        );
    }
    pc
}

/// A store to `address`; returns the store instruction's address.
fn store(address: u64) -> u64 {
    let pc: u64;
    // SAFETY: the store faults (its address is outside the map) and the
    // hook steps over it; no memory of ours is written.
    unsafe {
        asm!(
            "adr {pc}, 1f",
            "1: str {value}, [{address}]",
            pc = out(reg) pc,
            value = in(reg) 0x5a5a_5a5a_u64,
            address = in(reg) address,
            options(nostack),
        );
    }
    pc
}

/// Branches to `target` (outside the map); the hook returns to the
/// instruction after the branch with every register as it was but x30.
fn jump(target: u64) {
    // SAFETY: the fetch at `target` faults before any instruction there
    // runs, and the hook resumes at x30, right after the `blr`.
    unsafe {
        asm!("blr {target}", target = in(reg) target, lateout("x30") _, options(nostack));
    }
}

fn main(_boot: &BootInfo) -> ! {
    set_sync_hook(on_sync);

    let pc = load(DATA_IPA);
    report("read", pc);
    let pc = store(DATA_IPA + 8);
    report("write", pc);
    jump(FETCH_IPA);
    report("fetch", FETCH_IPA);

    let before = ABORTS.load(Ordering::Relaxed);
    let mut far_sum = 0u64;
    for round in 0..LOOP_FAULTS {
        load(DATA_IPA + (round % LOOP_PAGES) * 4096 + 16);
        far_sum = far_sum.wrapping_add(LAST_FAR.load(Ordering::Relaxed));
    }
    let looped = ABORTS.load(Ordering::Relaxed) - before;
    println!("abort_probe loop aborts={looped} far_sum={far_sum:#x}");
    println!("abort_probe done aborts={}", ABORTS.load(Ordering::Relaxed));
    psci::system_off()
}

guest_main!(main);
