//! Guest `irq_level_eoi_first`: a level interrupt whose handler EOIs before it clears the device, one interrupt per event.
//!
//! Brings the first edu up (`edu function=... intid=<n> ...`), then raises
//! its interrupt [`EVENTS`] times, each only once the previous one was
//! handled. The handler reads the interrupt status, writes the EOI
//! (EOImode 0: it also deactivates, while the line is still high) and only
//! then clears the device, as drivers that EOI first do. A hypervisor that
//! lets the still-high line re-pend and injects it again makes the guest
//! take a second interrupt with nothing raised. Prints
//! `level eoi_first events=<n> interrupts=<handler calls> spurious=<calls with status 0> timeouts=<t>`
//! (after a pause that lets a late extra interrupt show up), then SYSTEM_OFF.
//! Lines go through CONSOLE_WRITE (or the PL011 when run bare).
#![no_std]
#![no_main]

use bulkhead_guests::edu::{self, Edu};
use bulkhead_guests::{gic, guest_main, irq, mark, pci, psci, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Device events raised, one at a time.
pub const EVENTS: u64 = 1000;
/// The interrupt status bit raised (any bit raises INTx).
const EVENT_BIT: u32 = 0x1;
/// Longest wait for one event's interrupt.
const TIMEOUT_MS: u64 = 100;

/// BAR0 of the edu the handler serves.
static EDU_BASE: AtomicU64 = AtomicU64::new(0);
/// Handler calls, and those that found no status bit raised.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static SPURIOUS: AtomicU64 = AtomicU64::new(0);

/// EOI first (deactivating while the line is still asserted), then clear the device.
fn handler(irq: &irq::Irq) {
    let edu = Edu {
        base: EDU_BASE.load(Ordering::Acquire),
    };
    let status = edu.irq_status();
    gic::end_of_interrupt(irq.intid);
    edu.acknowledge(status);
    INTERRUPTS.fetch_add(1, Ordering::AcqRel);
    if status == 0 {
        SPURIOUS.fetch_add(1, Ordering::AcqRel);
    }
}

fn main(boot: &BootInfo) -> ! {
    let scan = pci::scan();
    let Some((_, device, intid)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };
    EDU_BASE.store(device.base, Ordering::Release);
    irq::set_handler_that_eois(intid, handler);

    let mut timeouts = 0u64;
    for _ in 0..EVENTS {
        let before = INTERRUPTS.load(Ordering::Acquire);
        device.write32(edu::reg::IRQ_RAISE, EVENT_BIT);
        if edu::wait_event(|| INTERRUPTS.load(Ordering::Acquire) > before, TIMEOUT_MS).is_err() {
            timeouts += 1;
        }
    }
    // A wrong second interrupt of the last event would come now.
    edu::sleep_ms(10);
    mark!(
        "level eoi_first events={EVENTS} interrupts={} spurious={} timeouts={timeouts}",
        INTERRUPTS.load(Ordering::Acquire),
        SPURIOUS.load(Ordering::Acquire)
    );
    psci::system_off()
}

guest_main!(main);
