//! Guest `idle`: prints the common boot lines, then switches its partition off.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, println, psci, BootInfo};

fn main(_boot: &BootInfo) -> ! {
    println!("idle done");
    psci::system_off()
}

guest_main!(main);
