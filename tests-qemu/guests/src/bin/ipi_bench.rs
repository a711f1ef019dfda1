//! Guest `ipi_bench`: SGI round trips between its two vCPUs, the same image bare and under Bulkhead.
//!
//! vCPU 0 sends SGI [`PING`] to vCPU 1 and sleeps in `wfi` until vCPU 1's
//! handler has answered with SGI [`PONG`] and vCPU 0's handler has counted
//! it; vCPU 1 sleeps in `wfi` between pings. Both sleep, so under `-icount`
//! the counter advances by the instructions both vCPUs execute: one round
//! trip's cost. After [`WARM_UP`] unrecorded rounds it prints `ipi bench
//! rounds=<n> ticks=<t> cntfrq=<f> received=<pings> replies=<pongs>`.
#![no_std]
#![no_main]

use bulkhead_guests::{gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

pub const ROUNDS: u64 = 2_000;
const WARM_UP: u64 = 100;
const PING: u32 = 1;
const PONG: u32 = 2;
/// Longest wait for vCPU 1 to come up.
const START_TIMEOUT_MS: u64 = 1000;

static SECONDARY_READY: AtomicU64 = AtomicU64::new(0);
static SECONDARY_STOP: AtomicU64 = AtomicU64::new(0);

/// vCPU 1 answers every ping with a pong to vCPU 0.
fn ping(_irq: &irq::Irq) {
    gic::send_sgi(PONG, 1 << 0);
}

/// Enables the two SGIs on this vCPU and unmasks IRQs.
fn listen() {
    let gic = gic::configured();
    gic.init_cpu();
    gic.enable_private(PING);
    gic.enable_private(PONG);
    irq::enable();
}

/// `rounds` ping-pongs, each waited for in `wfi`.
fn round_trips(rounds: u64) {
    for _ in 0..rounds {
        let expected = irq::count(0, PONG) + 1;
        gic::send_sgi(PING, 1 << 1);
        irq::sleep_until(|| irq::count(0, PONG) >= expected);
    }
}

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    boot.gic().init_distributor();
    irq::set_handler(PING, ping);
    listen();
    let result = psci::cpu_on(1, 0);
    if result != 0
        || !irq::wait_until(START_TIMEOUT_MS, || {
            SECONDARY_READY.load(Ordering::Acquire) != 0
        })
    {
        println!("ipi_bench error: vcpu 1 did not come up (cpu_on {result})");
        psci::system_off()
    }
    round_trips(WARM_UP);
    let start = timer::now();
    round_trips(ROUNDS);
    let ticks = timer::now() - start;
    SECONDARY_STOP.store(1, Ordering::Release);
    println!(
        "ipi bench rounds={ROUNDS} ticks={ticks} cntfrq={} received={} replies={}",
        boot.frequency,
        irq::count(1, PING),
        irq::count(0, PONG)
    );
    psci::system_off()
}

fn secondary(_vcpu: u64, _context: u64) -> ! {
    listen();
    SECONDARY_READY.store(1, Ordering::Release);
    // Woken by every ping; the last one is followed by the stop flag.
    irq::sleep_until(|| SECONDARY_STOP.load(Ordering::Acquire) != 0);
    irq::disable();
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
