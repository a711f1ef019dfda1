//! Guest `ckpt_linux_manager`: rolls a Linux partition it manages back to its last periodic checkpoint, once, mid-run.
//!
//! "Mid-run" is told, not guessed: Linux's workload sends a short stream on
//! channel 0 as it starts (`bulkhead send 0 ...` in `/init`), and the
//! manager restores `after_ms=` (bootargs, default 3000) after receiving
//! it: later than every checkpoint of the time before, well inside the
//! workload, however fast the host runs Linux's boot. Without a channel it
//! falls back to waiting `wait_ms=` (default 15 s) from its own start.
//! Lines: `manager signalled bytes=<n>`, `manager restoring linux status=..`,
//! `manager result restore=<code> busy=<n>`.
#![no_std]
#![no_main]

use bulkhead_guests::{channel, checkpoint, dt, guest_main, irq, mark, psci, timer, BootInfo};

/// The Linux partition's id in the layout.
const LINUX: u64 = 0;

fn main(boot: &BootInfo) -> ! {
    let wait_ms = if channel::info(0).is_ok() {
        let ch = channel::open(boot, 0, "manager");
        irq::enable();
        let got = ch.receive(None);
        mark!("manager signalled bytes={}", got.bytes);
        dt::bootarg_u64(boot.dtb, "after_ms").unwrap_or(3_000)
    } else {
        dt::bootarg_u64(boot.dtb, "wait_ms").unwrap_or(15_000)
    };
    let start = timer::now();
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
