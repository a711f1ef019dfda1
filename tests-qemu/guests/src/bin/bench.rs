//! Guest `bench`: times 10,000 NULL hypercalls with the virtual counter.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, hypercall, println, psci, timer, BootInfo};

const WARM_UP_CALLS: u64 = 1_000;
const MEASURED_CALLS: u64 = 10_000;

fn main(boot: &BootInfo) -> ! {
    hypercall::null_loop(WARM_UP_CALLS);
    let start = timer::now();
    hypercall::null_loop(MEASURED_CALLS);
    let ticks = timer::now() - start;
    println!(
        "bench hvc_null calls={MEASURED_CALLS} ticks={ticks} cntfrq={}",
        boot.frequency
    );
    psci::system_off()
}

guest_main!(main);
