//! Guest `attacker`: reads, then writes, memory it was never given.
//!
//! The target depends on the partition id (PARTITION_INFO), so three
//! partitions running this one image cover the three kinds of foreign memory.
//! Its IPA is QEMU virt's ([`TARGETS`]) unless the partition's bootargs say
//! `target=<address>`: another board's layout names the victim's PA,
//! Bulkhead's memory and the victim's device there, each outside that
//! attacker's map.
//! The read must not complete: Bulkhead either stops the partition
//! (`stage2-fault = "stop"`) or delivers a synchronous external abort, which
//! these vectors report (`guest exception: ...`) before powering off. Every
//! line after an "about to" line is a breach.
#![no_std]
#![no_main]

use bulkhead_guests::{dt, guest_main, println, psci, timer, BootInfo};

/// (IPA, what lives there on the machine) by partition id modulo 3.
pub const TARGETS: [(u64, &str); 3] = [
    // The isolation victim's checksummed block (its PA 0x7000_0000 + 16 MiB).
    (0x7100_0000, "victim memory"),
    // Bulkhead's own image and heap (the attacker's map ends at 0x4100_0000).
    (0x4200_0000, "bulkhead memory"),
    // The victim's PL011 (UART1).
    (0x0904_0000, "victim uart"),
];

fn main(boot: &BootInfo) -> ! {
    let id = boot.partition.map(|p| p.id).unwrap_or(0);
    let (virt_address, what) = TARGETS[(id % 3) as usize];
    let address = dt::bootarg_u64(boot.dtb, "target").unwrap_or(virt_address);
    // Let the victim start reporting before the attack, staggered per attacker.
    timer::delay_ms(200 + 100 * (id % 3));
    println!("attacker id={id} about to read {what} at {address:#x}");
    // SAFETY: deliberately not sound in the usual sense: `address` is outside
    // this partition's memory and devices, and the point of the test is that
    // the access never completes. No Rust object lives at that address.
    let value = unsafe { core::ptr::read_volatile(address as *const u32) };
    println!("attacker id={id} BREACH read {what} at {address:#x} value={value:#x}");
    println!("attacker id={id} about to write {what} at {address:#x}");
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(address as *mut u32, 0xdead_beef) };
    println!("attacker id={id} BREACH wrote {what} at {address:#x}");
    psci::system_off()
}

guest_main!(main);
