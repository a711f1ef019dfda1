//! Guest `irq_timer`: each vCPU's virtual timer interrupts at its own rate; the handlers count.
//!
//! vCPU 0 ticks at 1 kHz, vCPU 1 (started with CPU_ON if the partition has
//! two) at 500 Hz, both for [`SPAN_MS`] of counter time. The handler moves
//! the deadline on by one period from the previous deadline (not from now),
//! so a late interrupt does not lose ticks. Each vCPU prints
//! `timer vcpu=<v> interrupts=<n> expected=<m> other=<k>` (`other`: any other
//! interrupt it took).
#![no_std]
#![no_main]

use bulkhead_guests::{gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Counter time each vCPU's timer runs.
const SPAN_MS: u64 = 500;
/// Interrupt rate of vCPU n, in Hz.
const RATES: [u64; 2] = [1000, 500];
/// Longest vCPU 0 waits for vCPU 1's report.
const SECONDARY_TIMEOUT_MS: u64 = 10_000;

/// Timer period in ticks, by vCPU (read by the handler).
static PERIODS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
static SECONDARY_DONE: AtomicU64 = AtomicU64::new(0);

/// Re-arms the timer one period after the deadline that just passed.
fn tick(irq: &irq::Irq) {
    let period = PERIODS
        .get(irq.vcpu as usize)
        .map_or(0, |p| p.load(Ordering::Acquire));
    if period == 0 {
        timer::stop_virtual();
        return;
    }
    timer::set_virtual_deadline(timer::virtual_deadline().wrapping_add(period));
}

/// Runs this vCPU's timer for [`SPAN_MS`] and prints what it counted.
fn run(vcpu: u64) {
    let gic = gic::configured();
    let affinity = gic.init_cpu();
    if affinity != vcpu {
        println!("irq_timer error: vcpu {vcpu} reads GICR_TYPER affinity {affinity:#x}");
    }
    let rate = RATES.get(vcpu as usize).copied().unwrap_or(1000);
    let period = (timer::frequency() / rate).max(1);
    if let Some(slot) = PERIODS.get(vcpu as usize) {
        slot.store(period, Ordering::Release);
    }
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();

    let span = timer::ticks_from_ms(SPAN_MS);
    let start = timer::now();
    timer::arm_virtual(start + period);
    // Every period brings an interrupt, so sleeping cannot overshoot the end.
    irq::sleep_until(|| timer::now() >= start + span);
    timer::stop_virtual();
    irq::disable();
    gic.disable_private(gic::VIRTUAL_TIMER_INTID);

    let interrupts = irq::count(vcpu, gic::VIRTUAL_TIMER_INTID);
    let other = irq::total(vcpu) - interrupts;
    println!(
        "timer vcpu={vcpu} interrupts={interrupts} expected={} other={other} period_ticks={period} rate_hz={rate}",
        span / period
    );
}

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    let ctlr = boot.gic().init_distributor();
    println!("gic distributor ctlr={ctlr:#x}");
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, tick);

    // Bare (no PARTITION_INFO), try: QEMU's own PSCI answers for a second CPU.
    let try_two = boot.partition.is_none_or(|p| p.vcpus >= 2);
    let two = try_two && psci::cpu_on(1, 0) == 0;
    run(0);
    if two {
        let done = irq::wait_until(SECONDARY_TIMEOUT_MS, || {
            SECONDARY_DONE.load(Ordering::Acquire) != 0
        });
        if !done {
            println!("irq_timer error: vcpu 1 did not report");
        }
    }
    println!("timer done vcpus={}", if two { 2 } else { 1 });
    psci::system_off()
}

fn secondary(vcpu: u64, _context: u64) -> ! {
    run(vcpu);
    SECONDARY_DONE.store(1, Ordering::Release);
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
