//! Guest `ckpt_corruptor`: a manager corrupts a stored page of the worker it checkpointed; the restore must be refused.
//!
//! The page is the worker's scratch page (IPA 0x4040_0000), which the worker
//! rewrites every 20 ms, so it is dirty at restore time and its stored copy
//! is verified. Lines: `manager taking`, `result take=<code>`,
//! `result corrupt=<code>`, `manager restoring`, `result restore=<code>`,
//! `manager alive after=<ms>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint;
use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};

/// The worker's scratch page (mirrors `ckpt_worker.rs`).
const SCRATCH_IPA: u64 = 0x4040_0000;
/// Counter time before the checkpoint.
const BEFORE_TAKE_MS: u64 = 300;
/// Counter time the worker runs between the checkpoint and the corruption.
const BEFORE_CORRUPT_MS: u64 = 200;
/// Counter time the manager keeps running after the refused restore.
const AFTER_MS: u64 = 300;

fn main(boot: &BootInfo) -> ! {
    let Some(own) = boot.partition.map(|p| p.id) else {
        println!("ckpt_corruptor error: no partition info");
        psci::system_off()
    };
    let worker = own + 1;
    timer::delay_ms(BEFORE_TAKE_MS);
    println!("manager taking");
    println!("result take={}", checkpoint::take_code(worker));
    timer::delay_ms(BEFORE_CORRUPT_MS);
    println!(
        "result corrupt={}",
        checkpoint::corrupt_for_test(worker, SCRATCH_IPA)
    );
    println!("manager restoring");
    println!("result restore={}", checkpoint::restore(worker));
    timer::delay_ms(AFTER_MS);
    println!("manager alive after={AFTER_MS}");
    psci::system_off()
}

guest_main!(main);
