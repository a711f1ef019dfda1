//! Guest `ckpt_steady`: runs beside a partition that is checkpointed, and reports the longest stall it saw.
//!
//! A checkpoint pauses only the checkpointed partition's own cores. If it
//! paused this one too, this loop would see a gap at least as long as a
//! checkpoint's pause between two of its iterations.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, mark, psci, timer, BootInfo};

/// Counter time it watches for (the neighbour's checkpointed window fits inside).
const RUN_MS: u64 = 600;

fn main(_boot: &BootInfo) -> ! {
    let start = timer::now();
    let mut last = start;
    let mut longest = 0u64;
    let mut iterations = 0u64;
    while timer::elapsed_ms(start) < RUN_MS {
        let now = timer::now();
        longest = longest.max(now - last);
        last = now;
        iterations += 1;
    }
    mark!("steady run_ms={RUN_MS} iterations={iterations} longest_gap_ticks={longest}");
    psci::system_off()
}

guest_main!(main);
