//! Guest `ckpt_linux_manager`: rolls a Linux partition it manages back to its last periodic checkpoint, once, mid-run.
#![no_std]
#![no_main]

use bulkhead_guests::{checkpoint, dt, guest_main, mark, psci, timer, BootInfo};

/// The Linux partition's id in the layout.
const LINUX: u64 = 0;

fn main(boot: &BootInfo) -> ! {
    // Wait until Linux has been checkpointed through its boot and into its
    // workload (`wait_ms=` in the bootargs, 15 s by default), then restore it.
    let start = timer::now();
    let wait_ms = dt::bootarg_u64(boot.dtb, "wait_ms").unwrap_or(15_000);
    while timer::elapsed_ms(start) < wait_ms {
        timer::delay_ms(100);
    }
    let before = checkpoint::status(LINUX);
    mark!(
        "manager restoring linux status={:?}",
        before.map(|s| (s.generation, s.taken))
    );
    // Linux is checkpointed every 25 ms: a restore that meets one gets BUSY.
    let (code, busy) = checkpoint::restore_retrying(LINUX, 1000);
    mark!("manager result restore={code} busy={busy}");
    psci::system_off()
}

guest_main!(main);
