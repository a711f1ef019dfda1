//! Guest `cpu_features`: prints the ID registers it sees and, with SVE, the longest vector length it can set.
//!
//! Lines: `features <name>=<hex>` per register, then `features sve vl=<bytes>
//! zcr=<ZCR_EL1>` (vl=0 without SVE), then `features done`.
#![no_std]
#![no_main]

use bulkhead_guests::{cpu, guest_main, println, psci, BootInfo};

fn main(_boot: &BootInfo) -> ! {
    for (name, value) in cpu::id_registers() {
        println!("features {}={:#x}", name, value);
    }
    if cpu::has_sve() {
        cpu::enable_sve();
        cpu::set_vector_length(0xf);
        println!(
            "features sve vl={} zcr={:#x}",
            cpu::vector_bytes(),
            cpu::vector_length_register()
        );
    } else {
        println!("features sve vl=0 zcr=0x0");
    }
    println!("features done");
    psci::system_off()
}

guest_main!(main);
