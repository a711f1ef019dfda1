//! Guest `stats_probe`: does a known amount of each thing STATS counts and checks the counters moved by exactly that.
//!
//! Between two STATS calls on itself it makes [`WRITES`] CONSOLE_WRITE calls
//! of [`LINE`] (one line each), [`GIC_READS`] reads of GICD_IIDR, [`SGIS`]
//! writes of ICC_SGI1R_EL1 (SGI 3 to itself, never enabled, so nothing is
//! taken) and [`FAULTS`] reads of an IPA outside its map (each delivered as
//! an external abort its hook steps over). Then STATS on a partition it
//! does not manage and on an id that is no partition. Lines:
//! `stats delta <name>=<n> ...` (every counter, in STATS order),
//! `stats after <name>=<n> ...` (the second call's values),
//! `stats refused other=<code> missing=<code>`, `stats done`.
#![no_std]
#![no_main]

use bulkhead_guests::exception::{set_sync_hook, SyncException};
use bulkhead_guests::hypercall::{console_write, stats};
use bulkhead_guests::{abi, gic, guest_main, println, psci, BootInfo};

const WRITES: u64 = 10;
const LINE: &[u8] = b"stats line ok\n";
const GIC_READS: u64 = 50;
const SGIS: u64 = 20;
const FAULTS: u64 = 3;
/// Outside the partition's map (no RAM or device there).
const UNMAPPED: u64 = 0x7000_0000;
/// The other partition's id (mirrors the layout) and an id nobody has.
const OTHER: u64 = 1;
const MISSING: u64 = 77;

/// Steps over the faulting load.
fn on_sync(exception: &mut SyncException<'_>) -> Option<u64> {
    Some(exception.elr + 4)
}

fn print_counters(what: &str, values: &[u64; abi::vendor::stats::COUNT]) {
    let mut line = bulkhead_guests::console::Line::new();
    use core::fmt::Write;
    let _ = write!(line, "stats {what}");
    for (name, value) in abi::vendor::stats::NAMES.iter().zip(values) {
        let _ = write!(line, " {name}={value}");
    }
    println!(
        "{}",
        core::str::from_utf8(line.as_bytes()).unwrap_or("stats error: not utf-8")
    );
}

fn main(boot: &BootInfo) -> ! {
    set_sync_hook(on_sync);
    gic::configure(boot.gic());
    let gicd_iidr = boot.gic().gicd(0x8);
    let Ok(before) = stats(abi::vendor::SELF) else {
        println!("stats error: STATS on itself failed");
        psci::system_off()
    };
    for _ in 0..WRITES {
        console_write(LINE);
    }
    for _ in 0..GIC_READS {
        gic::read32(gicd_iidr);
    }
    for _ in 0..SGIS {
        // SGI 3 to this vCPU (Aff0 target list bit 0; GICv2: GICD_SGIR),
        // trapped by Bulkhead; SGI 3 is never enabled here, so no interrupt is taken.
        gic::send_sgi_raw((3u64 << 24) | 1);
    }
    for _ in 0..FAULTS {
        // SAFETY: the read faults (nothing is mapped there) and the hook
        // resumes after it.
        unsafe {
            core::arch::asm!("ldr {}, [{}]", out(reg) _, in(reg) UNMAPPED, options(nostack, readonly))
        };
    }
    let Ok(after) = stats(abi::vendor::SELF) else {
        println!("stats error: STATS on itself failed");
        psci::system_off()
    };
    let mut delta = [0; abi::vendor::stats::COUNT];
    for ((delta, after), before) in delta.iter_mut().zip(after).zip(before) {
        *delta = after.wrapping_sub(before);
    }
    print_counters("delta", &delta);
    print_counters("after", &after);
    println!(
        "stats refused other={} missing={}",
        stats(OTHER).err().unwrap_or(0),
        stats(MISSING).err().unwrap_or(0)
    );
    println!("stats done");
    psci::system_off()
}

guest_main!(main);
