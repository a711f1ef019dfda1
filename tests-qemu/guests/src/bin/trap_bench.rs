//! Guest `trap_bench`: times the traps a conformance micro-benchmark issues, the same image bare and under Bulkhead.
//!
//! - [`CALLS`] `hvc #0` with an unassigned vendor function ID (the full
//!   dispatcher, answering NOT_SUPPORTED; bare, the guest's own vector
//!   answers the UNDEFINED `hvc` the same way);
//! - [`READS`] reads of GICD_IIDR (trapped and emulated under Bulkhead,
//!   a plain MMIO read bare).
//!
//! Lines: `trap bench hvc_unknown calls=<n> ticks=<t> cntfrq=<f>` and
//! `trap bench gicd_read reads=<n> ticks=<t> cntfrq=<f>`.
#![no_std]
#![no_main]

use bulkhead_guests::{gic, guest_main, hypercall, println, psci, timer, BootInfo};

const WARM_UP: u64 = 1_000;
pub const CALLS: u64 = 10_000;
pub const READS: u64 = 10_000;
/// A vendor-range function ID Bulkhead does not assign.
const UNASSIGNED: u32 = 0xC600_00EE;

fn unknown_calls(count: u64) {
    hypercall::call_loop(UNASSIGNED, count);
}

fn gicd_reads(address: u64, count: u64) {
    for _ in 0..count {
        gic::read32(address);
    }
}

fn main(boot: &BootInfo) -> ! {
    unknown_calls(WARM_UP);
    let start = timer::now();
    unknown_calls(CALLS);
    let ticks = timer::now() - start;
    println!(
        "trap bench hvc_unknown calls={CALLS} ticks={ticks} cntfrq={}",
        boot.frequency
    );
    let iidr = boot.gic().gicd(0x8);
    gicd_reads(iidr, WARM_UP);
    let start = timer::now();
    gicd_reads(iidr, READS);
    let ticks = timer::now() - start;
    println!(
        "trap bench gicd_read reads={READS} ticks={ticks} cntfrq={}",
        boot.frequency
    );
    psci::system_off()
}

guest_main!(main);
