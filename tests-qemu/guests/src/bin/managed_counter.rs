//! Guest `managed_counter`: a counter a managing partition checkpoints, restores, restarts, stops and starts.
//!
//! Increments a counter in memory every [`PERIOD_MS`] (a restore takes it
//! back), sleeping in `wfi` on its virtual timer in between (so under
//! icount idle time costs no instructions), and every [`PRINT_EVERY`]
//! increments prints `counter value=<n> boot=<b>` (`b`: the guest DT's
//! `bulkhead,boot-count`, so restarts show). With `run_ms=<ms>` in its
//! bootargs it prints `counter done value=<n>` and powers off after that
//! much counter time from its start; without, it runs until stopped.
#![no_std]
#![no_main]

use bulkhead_guests::{dt, gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Counter time between two increments.
pub const PERIOD_MS: u64 = 10;
/// Increments between two lines.
pub const PRINT_EVERY: u64 = 20;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The `/chosen` property or bootargs word this guest reads.
fn chosen_u32(boot: &BootInfo, name: &str) -> Option<usize> {
    dt::blob(boot.dtb)?
        .find_node("/chosen")?
        .property(name)?
        .as_usize()
}

fn main(boot: &BootInfo) -> ! {
    let boot_count = chosen_u32(boot, "bulkhead,boot-count").unwrap_or(0);
    let run_ticks = dt::bootarg_u64(boot.dtb, "run_ms").map(timer::ticks_from_ms);
    gic::configure(boot.gic());
    let gic = gic::configured();
    gic.init_distributor();
    gic.init_cpu();
    // The timer's line stays up while it is enabled: the handler turns it off.
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, |_| timer::stop_virtual());
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
    let start = timer::now();
    println!("counter start boot={boot_count}");
    let period = timer::ticks_from_ms(PERIOD_MS);
    let mut deadline = start;
    loop {
        deadline += period;
        timer::arm_virtual(deadline);
        irq::sleep_until(|| timer::now() >= deadline);
        let value = COUNTER.fetch_add(1, Ordering::AcqRel) + 1;
        if value.is_multiple_of(PRINT_EVERY) {
            println!("counter value={value} boot={boot_count}");
        }
        if run_ticks.is_some_and(|ticks| timer::now() - start >= ticks) {
            println!("counter done value={value} boot={boot_count}");
            psci::system_off()
        }
    }
}

guest_main!(main);
