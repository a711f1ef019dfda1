//! Guest `bystander`: prints rising progress for a fixed time while a neighbour resets.
//!
//! Lines go to its own UART and, mirrored through CONSOLE_WRITE, to UART0,
//! where they interleave with the neighbour's output.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, mark, println, psci, timer, BootInfo};

/// Counter time the bystander runs for: outlasts the pilot's two boots.
const RUN_MS: u64 = 2500;
/// Counter time between two progress lines.
const PERIOD_MS: u64 = 50;

fn main(_boot: &BootInfo) -> ! {
    let start = timer::now();
    let mut progress = 0u64;
    while timer::elapsed_ms(start) < RUN_MS {
        progress += 1;
        println!("progress={progress} ticks={}", timer::now());
        mark!("progress={progress}");
        timer::delay_ms(PERIOD_MS);
    }
    println!("bystander done progress={progress}");
    psci::system_off()
}

guest_main!(main);
