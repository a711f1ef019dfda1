//! Guest `chan_route`: endpoint 1 of channel 0 on two vCPUs, its doorbell routed to vCPU 1 through GICD_IROUTER.
//!
//! vCPU 0 starts vCPU 1 and waits. vCPU 1 enables the doorbell routed to
//! itself (rings that came before are latched and delivered then), and
//! answers every doorbell with one, until the peer's lane shows PING =
//! u64::MAX. vCPU 0 then prints
//! `chan route vcpu0=<doorbells taken by vCPU 0> vcpu1=<by vCPU 1> answered=<n>`
//! and powers off. The peer is `chan_bench`'s endpoint 0.
#![no_std]
#![no_main]

use bulkhead_abi::transfer::PING;
use bulkhead_guests::{channel, gic, guest_main, irq, mark, psci, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Doorbells vCPU 1 answered (the last, the peer's stop, is not).
static ANSWERED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
/// The SGI vCPU 1 wakes vCPU 0 with.
const WAKE_SGI: u32 = 3;

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    let gic = gic::configured();
    gic.init_distributor();
    gic.init_cpu();
    let Ok(ch) = channel::info(0) else {
        mark!("chan route error: not an endpoint of channel 0");
        psci::system_off()
    };
    if psci::cpu_on(1, 0) != 0 {
        mark!("chan route error: vCPU 1 did not start");
        psci::system_off()
    }
    // vCPU 1 wakes this one with SGI WAKE_SGI when it is done.
    gic.enable_private(WAKE_SGI);
    irq::enable();
    irq::sleep_until(|| DONE.load(Ordering::Acquire) != 0);
    mark!(
        "chan route vcpu0={} vcpu1={} answered={}",
        irq::count(0, ch.doorbell),
        irq::count(1, ch.doorbell),
        ANSWERED.load(Ordering::Acquire)
    );
    psci::system_off()
}

fn secondary(_vcpu: u64, _context: u64) -> ! {
    gic::configured().init_cpu();
    if let Ok(ch) = channel::info(0) {
        ch.enable_doorbell();
        irq::enable();
        let peer = ch.peer();
        let mut answered = 0;
        loop {
            irq::sleep_until(|| ch.doorbells() > answered);
            answered += 1;
            if ch.get(peer, PING) == u64::MAX {
                break;
            }
            channel::notify(ch.id, peer);
            ANSWERED.store(answered, Ordering::Release);
        }
    }
    DONE.store(1, Ordering::Release);
    gic::send_sgi(WAKE_SGI, 1 << 0);
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
