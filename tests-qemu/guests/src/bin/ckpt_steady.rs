//! Guest `ckpt_steady`: runs beside a partition that is checkpointed, and reports the longest stall it saw.
//!
//! A checkpoint pauses only the checkpointed partition's own cores. If it
//! paused this one too, this loop would see a gap at least as long as a
//! checkpoint's pause at every checkpoint; the host's own scheduling causes
//! only a few long gaps.
//!
//! Under icount, QEMU runs the cores in turn on one thread, and each turn
//! may last up to a quarter of the time to the next timer deadline. With
//! no deadline nearer than QEMU's 100 ms kick, a core that gives up its
//! turn early (a broadcast TLB invalidation, a timer reprogrammed) waits
//! ~20 ms for the next one: the checkpointed core's pauses and timer
//! latency would be QEMU's, not Bulkhead's. This guest keeps a masked
//! virtual-timer deadline 0.5 ms ahead so that turns stay short, as cores
//! running side by side would be.
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
    let mut stalls = 0u64;
    let stall = timer::frequency() / 1000;
    let pace = timer::frequency() / 2000;
    let mut paced_until = 0;
    while timer::elapsed_ms(start) < RUN_MS {
        let now = timer::now();
        if now >= paced_until {
            paced_until = now + pace;
            timer::arm_virtual_masked(paced_until);
        }
        let gap = now - last;
        longest = longest.max(gap);
        if gap > stall {
            stalls += 1;
        }
        last = now;
        iterations += 1;
    }
    timer::stop_virtual();
    mark!("steady run_ms={RUN_MS} iterations={iterations} stalls_over_1ms={stalls} longest_gap_ticks={longest}");
    psci::system_off()
}

guest_main!(main);
