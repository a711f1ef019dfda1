//! Guest `ckpt_periodic`: keeps writing its memory while Bulkhead checkpoints it every `interval-ms`.
//!
//! Runs for a fixed span of counter time, then reports how many checkpoints
//! the hypervisor took (CHECKPOINT_STATUS) and what the last one cost.
#![no_std]
#![no_main]

use bulkhead_abi::vendor;
use bulkhead_guests::{checkpoint, guest_main, mark, psci, timer, BootInfo};

/// Counter time the guest runs for.
pub const RUN_MS: u64 = 300;
/// Bytes it dirties over and over (8 MiB, 4 MiB past its image): enough that a
/// checkpoint's pause is several milliseconds.
const WORK_OFFSET: u64 = 4 << 20;
const WORK_BYTES: u64 = 8 << 20;

/// Dirties the work area once (one word per page).
fn dirty(base: u64, round: u64) {
    for page in 0..WORK_BYTES / 4096 {
        let address = (base + page * 4096) as *mut u64;
        // SAFETY: the work area lies inside the partition's own RAM, past
        // its image and below its device tree.
        unsafe { address.write_volatile(round ^ page) };
    }
}

fn taken() -> u64 {
    checkpoint::status(vendor::SELF).map_or(0, |status| status.taken)
}

fn main(boot: &BootInfo) -> ! {
    let base = boot.first_region().map_or(0x4000_0000, |(base, _)| base) + WORK_OFFSET;
    // The first two checkpoints copy all memory (one per store slot): the
    // measured window starts once they are done.
    let mut rounds = 0u64;
    while taken() < 2 {
        dirty(base, rounds);
        rounds += 1;
    }
    let before = taken();
    let start = timer::now();
    while timer::elapsed_ms(start) < RUN_MS {
        dirty(base, rounds);
        rounds += 1;
    }
    match checkpoint::status(vendor::SELF) {
        Ok(status) => mark!(
            "periodic run_ms={RUN_MS} rounds={rounds} in_window={} taken={} generation={} pages_copied={} pause_ticks={} cntfrq={}",
            status.taken - before,
            status.taken,
            status.generation,
            status.pages_copied,
            status.pause_ticks,
            timer::frequency()
        ),
        Err(code) => mark!("periodic status error={code}"),
    }
    psci::system_off()
}

guest_main!(main);
