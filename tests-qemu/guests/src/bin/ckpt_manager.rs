//! Guest `ckpt_manager`: a partition that `manages` the next id checkpoints it, reads its status and rolls it back.
//!
//! Lines, in order: `manager taking`, `result take=<code>`,
//! `manager took generation=<g>`, `result status=<code>`,
//! `manager status generation=<g> taken=<n> pages_copied=<p>`,
//! `result take_unmanaged=<code>` (the partition one id down, not managed),
//! `manager restoring`, `result restore=<code>`, `manager restored`.
#![no_std]
#![no_main]

use bulkhead_guests::abi::vendor;
use bulkhead_guests::checkpoint;
use bulkhead_guests::hypercall::hvc;
use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};

/// Counter time before the checkpoint: the worker has made progress.
const BEFORE_TAKE_MS: u64 = 300;
/// Counter time between the checkpoint and the restore.
const BEFORE_RESTORE_MS: u64 = 400;

fn main(boot: &BootInfo) -> ! {
    let Some(own) = boot.partition.map(|p| p.id) else {
        println!("ckpt_manager error: no partition info");
        psci::system_off()
    };
    let worker = own + 1;
    timer::delay_ms(BEFORE_TAKE_MS);

    println!("manager taking");
    let r = hvc(vendor::CHECKPOINT_TAKE, [worker, 0, 0, 0, 0, 0]);
    println!("result take={}", r[0] as i64);
    println!("manager took generation={}", r[1]);
    match checkpoint::status(worker) {
        Ok(s) => {
            println!("result status=0");
            println!(
                "manager status generation={} taken={} pages_copied={}",
                s.generation, s.taken, s.pages_copied
            );
        }
        Err(code) => println!("result status={code}"),
    }
    if own > 0 {
        println!("result take_unmanaged={}", checkpoint::take_code(own - 1));
    }

    timer::delay_ms(BEFORE_RESTORE_MS);
    println!("manager restoring");
    println!("result restore={}", checkpoint::restore(worker));
    println!("manager restored");
    psci::system_off()
}

guest_main!(main);
