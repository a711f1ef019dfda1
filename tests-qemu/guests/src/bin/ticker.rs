//! Guest `ticker`: prints a rising progress counter on its own UART for a long while.
//!
//! The bare-metal neighbour of the Linux scenarios: its counter must keep
//! rising while Linux boots, works, reboots and powers off next to it.
//! Every fourth line is also mirrored to UART0 (`[ticker] ...`).
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, mark, println, psci, timer, BootInfo};

/// Counter time the ticker runs for: outlasts a Linux boot and workload under TCG.
const RUN_MS: u64 = 40_000;
/// Counter time between two progress lines.
const PERIOD_MS: u64 = 250;
/// Every how many lines one is mirrored to UART0 through CONSOLE_WRITE.
const MIRROR_EVERY: u64 = 4;

fn main(_boot: &BootInfo) -> ! {
    let start = timer::now();
    let mut progress = 0u64;
    while timer::elapsed_ms(start) < RUN_MS {
        progress += 1;
        println!("ticker progress={progress} ticks={}", timer::now());
        // A sparse mirror on UART0 orders the counter against Linux's lines there.
        if progress.is_multiple_of(MIRROR_EVERY) {
            mark!("ticker progress={progress}");
        }
        timer::delay_ms(PERIOD_MS);
    }
    println!("ticker done progress={progress}");
    psci::system_off()
}

guest_main!(main);
