//! Guest `irq_timer`: each vCPU's virtual timer interrupts at its own rate; the handlers count.
//!
//! vCPU 0 ticks at 1 kHz, vCPU 1 (started with CPU_ON if the partition has
//! two) at 500 Hz, both for [`SPAN_MS`] of counter time. The handler moves
//! the deadline on by one period from the previous deadline (not from now),
//! so a late interrupt does not lose ticks. Each vCPU prints
//! `timer vcpu=<v> interrupts=<n> expected=<m> early=<e> other=<k>`
//! (`interrupts`: those for a deadline inside the span; `early`: any taken
//! before its deadline; `other`: any other interrupt it took).
//!
//! Then each vCPU's handler leaves its deadline passed [`REFIRES`] times,
//! so the timer's level interrupt is still asserted when the guest ends it:
//! it must be taken again each time (`timer refire vcpu=<v> taken=<n>
//! expected=<m>`). A late re-arm under a loaded host does the same to a
//! real guest; a hypervisor that lets the GIC drop it hangs the vCPU.
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
/// Interrupts the refire phase's handler leaves the deadline passed for, before it stops the timer.
const REFIRES: u64 = 20;
/// Longest the refire phase waits for its interrupts.
const REFIRE_TIMEOUT_MS: u64 = 2_000;
/// Refires left, by vCPU (read by the handler).
static REFIRES_LEFT: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Last deadline of the counted span, by vCPU (read by the handler).
static SPAN_ENDS: [AtomicU64; 2] = [AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)];
/// Interrupts taken for a deadline inside the span, by vCPU.
static IN_SPAN: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
/// Interrupts taken before their deadline (a stale or doubled one), by vCPU.
static EARLY: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Re-arms the timer one period after the deadline that just passed.
fn tick(irq: &irq::Irq) {
    let v = irq.vcpu as usize;
    let left = REFIRES_LEFT.get(v);
    if left.is_some_and(|left| {
        left.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }) {
        // The deadline stays passed: the line is still high after the EOI.
        return;
    }
    let period = PERIODS.get(v).map_or(0, |p| p.load(Ordering::Acquire));
    if period == 0 {
        timer::stop_virtual();
        return;
    }
    let deadline = timer::virtual_deadline();
    if timer::now() < deadline {
        if let Some(early) = EARLY.get(v) {
            early.fetch_add(1, Ordering::AcqRel);
        }
    }
    let end = SPAN_ENDS
        .get(v)
        .map_or(0, |end| end.load(Ordering::Acquire));
    if deadline <= end {
        if let Some(counted) = IN_SPAN.get(v) {
            counted.fetch_add(1, Ordering::AcqRel);
        }
    }
    timer::set_virtual_deadline(deadline.wrapping_add(period));
}

/// Runs this vCPU's timer for [`SPAN_MS`] and prints what it counted.
fn run(vcpu: u64) {
    let gic = gic::configured();
    let affinity = gic.init_cpu();
    if affinity != vcpu {
        println!("irq_timer error: vcpu {vcpu} reads GICR_TYPER affinity {affinity:#x}");
    }
    let v = vcpu as usize;
    let rate = RATES.get(v).copied().unwrap_or(1000);
    let period = (timer::frequency() / rate).max(1);
    let span = timer::ticks_from_ms(SPAN_MS);
    let start = timer::now();
    let end = start + span;
    if let (Some(slot), Some(span_end)) = (PERIODS.get(v), SPAN_ENDS.get(v)) {
        span_end.store(end, Ordering::Release);
        slot.store(period, Ordering::Release);
    }
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();

    timer::arm_virtual(start + period);
    // Each interrupt moves the deadline on by one period: once it is past
    // the span's end, every deadline inside the span was taken. Counted by
    // deadline, not by arrival: a vCPU the host descheduled catches up on
    // the deadlines it missed, some after the span's end.
    irq::sleep_until(|| timer::virtual_deadline() > end);
    timer::stop_virtual();
    irq::disable();
    gic.disable_private(gic::VIRTUAL_TIMER_INTID);

    let load = |counters: &[AtomicU64; 2]| counters.get(v).map_or(0, |c| c.load(Ordering::Acquire));
    let interrupts = load(&IN_SPAN);
    let early = load(&EARLY);
    let other = irq::total(vcpu) - irq::count(vcpu, gic::VIRTUAL_TIMER_INTID);
    println!(
        "timer vcpu={vcpu} interrupts={interrupts} expected={} early={early} other={other} period_ticks={period} rate_hz={rate}",
        span / period
    );
    refire(vcpu);
}

/// Takes the timer's interrupt with its line left asserted [`REFIRES`]
/// times, and once more when the handler stops the timer.
fn refire(vcpu: u64) {
    let gic = gic::configured();
    if let Some(slot) = PERIODS.get(vcpu as usize) {
        slot.store(0, Ordering::Release);
    }
    if let Some(left) = REFIRES_LEFT.get(vcpu as usize) {
        left.store(REFIRES, Ordering::Release);
    }
    let before = irq::count(vcpu, gic::VIRTUAL_TIMER_INTID);
    let expected = REFIRES + 1;
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
    timer::arm_virtual(timer::now());
    irq::wait_until(REFIRE_TIMEOUT_MS, || {
        irq::count(vcpu, gic::VIRTUAL_TIMER_INTID) - before >= expected
    });
    // Anything beyond `expected` would come at once: the timer is off now.
    timer::delay_ms(1);
    irq::disable();
    timer::stop_virtual();
    gic.disable_private(gic::VIRTUAL_TIMER_INTID);
    let taken = irq::count(vcpu, gic::VIRTUAL_TIMER_INTID) - before;
    println!("timer refire vcpu={vcpu} taken={taken} expected={expected}");
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
