//! Guest `irq_listener`: counts every interrupt its vCPUs take while a neighbour sends SGIs around.
//!
//! Both vCPUs enable all 16 SGIs, then vCPU 0 prints `listener ready`,
//! listens for [`LISTEN_MS`] and prints `listener vcpu=<v> sgis=<n>
//! total=<m>` for each vCPU: a partition's SGIs must never reach it.
#![no_std]
#![no_main]

use bulkhead_guests::{gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// How long the listening lasts: covers the sender's settle time and attack
/// (200 trapped SGI round trips take a few seconds under TCG).
const LISTEN_MS: u64 = 10_000;
/// Longest wait for vCPU 1 to come up.
const START_TIMEOUT_MS: u64 = 1000;

static SECONDARY_READY: AtomicU64 = AtomicU64::new(0);
static SECONDARY_STOP: AtomicU64 = AtomicU64::new(0);

fn listen(vcpu: u64) {
    let gic = gic::configured();
    let affinity = gic.init_cpu();
    if affinity != vcpu {
        println!("irq_listener error: vcpu {vcpu} reads GICR_TYPER affinity {affinity:#x}");
    }
    for sgi in 0..16 {
        gic.enable_private(sgi);
    }
    irq::enable();
}

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    boot.gic().init_distributor();
    listen(0);
    let try_two = boot.partition.is_none_or(|p| p.vcpus >= 2);
    let vcpus = if try_two
        && psci::cpu_on(1, 0) == 0
        && irq::wait_until(START_TIMEOUT_MS, || {
            SECONDARY_READY.load(Ordering::Acquire) != 0
        }) {
        2
    } else {
        1
    };
    println!("listener ready vcpus={vcpus}");
    timer::delay_ms(LISTEN_MS);
    SECONDARY_STOP.store(1, Ordering::Release);
    for vcpu in 0..vcpus {
        println!(
            "listener vcpu={vcpu} sgis={} total={}",
            irq::count_range(vcpu, 0..16),
            irq::total(vcpu)
        );
    }
    println!("listener done");
    psci::system_off()
}

fn secondary(vcpu: u64, _context: u64) -> ! {
    listen(vcpu);
    SECONDARY_READY.store(1, Ordering::Release);
    while SECONDARY_STOP.load(Ordering::Acquire) == 0 {
        core::hint::spin_loop();
    }
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
