//! Guest `irq_latency`: counter ticks from the virtual timer's deadline to the IRQ vector, averaged.
//!
//! Each sample arms the virtual timer [`LEAD_TICKS`] ahead (or `lead_ms=`
//! milliseconds, from the bootargs) and waits in `wfi`; the vector reads CNTVCT as its third instruction and the handler
//! subtracts the deadline. After [`WARMUP`] unrecorded samples it prints
//! `irq latency ticks=<total> samples=<n> cntfrq=<f> min=<a> max=<b>`.
#![no_std]
#![no_main]

use bulkhead_guests::{dt, gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Recorded samples.
pub const SAMPLES: u64 = 200;
/// Samples taken first and thrown away (cold caches and TLBs).
const WARMUP: u64 = 10;
/// How far ahead of now each deadline is set.
const LEAD_TICKS: u64 = 1000;

static TAKEN: AtomicU64 = AtomicU64::new(0);
static TOTAL: AtomicU64 = AtomicU64::new(0);
static MIN: AtomicU64 = AtomicU64::new(u64::MAX);
static MAX: AtomicU64 = AtomicU64::new(0);

/// Records one sample and stops the timer (its level interrupt drops).
fn expired(irq: &irq::Irq) {
    let latency = irq.entry_ticks.saturating_sub(timer::virtual_deadline());
    timer::stop_virtual();
    if TAKEN.fetch_add(1, Ordering::AcqRel) >= WARMUP {
        TOTAL.fetch_add(latency, Ordering::AcqRel);
        MIN.fetch_min(latency, Ordering::AcqRel);
        MAX.fetch_max(latency, Ordering::AcqRel);
    }
}

fn main(boot: &BootInfo) -> ! {
    let gic = boot.gic();
    gic::configure(gic);
    gic.init_distributor();
    gic.init_cpu();
    irq::set_handler(gic::VIRTUAL_TIMER_INTID, expired);
    gic.enable_private(gic::VIRTUAL_TIMER_INTID);
    irq::enable();
    let lead = dt::bootarg_u64(boot.dtb, "lead_ms").map_or(LEAD_TICKS, timer::ticks_from_ms);
    for sample in 1..=WARMUP + SAMPLES {
        timer::arm_virtual(timer::now() + lead);
        // The deadline is certain to pass, so sleeping until it does is safe.
        irq::sleep_until(|| TAKEN.load(Ordering::Acquire) >= sample);
    }
    irq::disable();
    println!(
        "irq latency ticks={} samples={SAMPLES} cntfrq={} min={} max={}",
        TOTAL.load(Ordering::Acquire),
        boot.frequency,
        MIN.load(Ordering::Acquire),
        MAX.load(Ordering::Acquire)
    );
    psci::system_off()
}

guest_main!(main);
