//! Guest `ckpt_outsider`: a partition without `manages` tries every checkpoint call on others; each must be DENIED.
//!
//! Targets: the partition two ids up (the checkpointed worker) and one id up
//! (the manager), plus itself (no checkpoint policy: NOT_SUPPORTED). Prints
//! `result <name>=<code>` per call, then `outsider done`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint;
use bulkhead_guests::{guest_main, println, psci, BootInfo};

fn main(boot: &BootInfo) -> ! {
    let Some(own) = boot.partition.map(|p| p.id) else {
        println!("ckpt_outsider error: no partition info");
        psci::system_off()
    };
    let (manager, worker) = (own + 1, own + 2);
    println!("result take_worker={}", checkpoint::take_code(worker));
    println!("result status_worker={}", checkpoint::status_code(worker));
    println!("result restore_worker={}", checkpoint::restore(worker));
    println!(
        "result corrupt_worker={}",
        checkpoint::corrupt_for_test(worker, 0x4000_0000)
    );
    println!("result take_manager={}", checkpoint::take_code(manager));
    println!(
        "result take_self={}",
        checkpoint::take_code(checkpoint::SELF)
    );
    println!("outsider done");
    psci::system_off()
}

guest_main!(main);
