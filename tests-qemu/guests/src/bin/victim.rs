//! Guest `victim`: keeps checksumming a pre-filled block while others attack it.
//!
//! Prints `victim progress=<n> checksum=<c>` on its own UART (its stdout
//! PL011, else a mini UART it was given: the Raspberry Pi's UART1) and
//! mirrors each line through CONSOLE_WRITE, so on UART0 its progress
//! interleaves with Bulkhead's fault reports and the scenario can see it
//! outlive them.
#![no_std]
#![no_main]

use bulkhead_guests::{console, guest_main, mark, println, psci, timer, BootInfo};
use bulkhead_workload as workload;

/// Counter time the victim runs for: long enough to outlive every attack.
const RUN_MS: u64 = 3000;
/// Counter time between two progress lines.
const PERIOD_MS: u64 = 100;

fn main(boot: &BootInfo) -> ! {
    if let Some(dt) = boot.dt.filter(|dt| dt.own_stdout_uart().is_none()) {
        if let Some((uart, _)) = dt.mini_uart {
            console::use_mini_uart(uart);
        }
    }
    let Some((base, size)) = boot.first_region() else {
        println!("victim error: no memory region known");
        psci::system_off()
    };
    let block_bytes = workload::VICTIM_WORDS * workload::WORD_BYTES;
    let fits = workload::work_area(size).is_some_and(|area| area.end - area.start >= block_bytes);
    if !fits {
        println!("victim error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    // SAFETY: the block starts 16 MiB into our first region (past the image
    // and stacks), ends before the device tree (checked above) and nothing
    // else in this partition uses it.
    let block = unsafe {
        core::slice::from_raw_parts_mut(
            (base + workload::WORK_AREA_OFFSET) as *mut u64,
            workload::VICTIM_WORDS as usize,
        )
    };
    workload::fill(block, 0);
    let start = timer::now();
    let mut progress = 0u64;
    while timer::elapsed_ms(start) < RUN_MS {
        progress += 1;
        let sum = workload::checksum(block, 0);
        println!("victim progress={progress} checksum={sum:#x}");
        mark!("victim progress={progress} checksum={sum:#x}");
        timer::delay_ms(PERIOD_MS);
    }
    println!("victim done progress={progress}");
    psci::system_off()
}

guest_main!(main);
