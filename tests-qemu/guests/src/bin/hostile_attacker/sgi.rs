//! Attack `sgi`: SGIs through all three generation registers at every range, affinity and target list that could name the victim's cores.
//!
//! For ICC_SGI1R_EL1, ICC_ASGI1R_EL1 and ICC_SGI0R_EL1 (`s3_0_c12_c11_5`,
//! `_6`, `_7`), every INTID 0..15, every range selector 0..15, the
//! affinity triples in [`AFFINITIES`] (Aff3.Aff2.Aff1: the victim's physical
//! cluster 0 and others) and target lists [`TARGET_LISTS`] (Aff0 2 and 3 are
//! the victim's physical cores), then IRM = 1 (all but self) for each INTID
//! and register. The attacker's own vCPU 0 listens to every SGI, so writes
//! that name it arrive (`own_received`); a last SGI to itself is the control
//! that the path works (`control=1`). Lines: `attack sgi result=done
//! writes=<n> own_received=<n> control=<0|1>`. On a GICv2 the twin sends
//! every one of those values as its GICD_SGIR translation
//! (`gic::gicv2_sgir_value`: a list naming Aff0 2 and 3 names the victim's
//! CPU interfaces), the same number of writes.

use super::{Done, Own};
use bulkhead_guests::{gic, irq, println, timer};
use core::arch::asm;

/// (Aff3, Aff2, Aff1) values tried.
pub const AFFINITIES: [(u64, u64, u64); 10] = [
    (0, 0, 0),
    (0, 0, 1),
    (0, 0, 2),
    (0, 0, 0xff),
    (0, 1, 0),
    (0, 0xff, 0),
    (1, 0, 0),
    (0xff, 0, 0),
    (1, 1, 1),
    (0xff, 0xff, 0xff),
];
/// Target lists tried: the victim's physical Aff0s 2 and 3, and everyone.
pub const TARGET_LISTS: [u64; 2] = [0b1100, 0xffff];
/// The control SGI the attacker sends itself at the end.
const CONTROL_SGI: u32 = 9;
/// Wait for kicks in flight to land.
const SETTLE_MS: u64 = 20;

fn write_sgi1r(value: u64) {
    // SAFETY: generating SGIs only makes interrupts pending (Bulkhead
    // traps the write); no memory is touched.
    unsafe { asm!("msr s3_0_c12_c11_5, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

fn write_asgi1r(value: u64) {
    // SAFETY: as for `write_sgi1r`.
    unsafe { asm!("msr s3_0_c12_c11_6, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

fn write_sgi0r(value: u64) {
    // SAFETY: as for `write_sgi1r`.
    unsafe { asm!("msr s3_0_c12_c11_7, {}", "isb", in(reg) value, options(nomem, nostack)) };
}

/// The three SGI generation registers.
pub const REGISTERS: [fn(u64); 3] = [write_sgi1r, write_asgi1r, write_sgi0r];

/// An SGI register value: INTID, range selector, affinities, target list.
fn value(intid: u64, range: u64, (aff3, aff2, aff1): (u64, u64, u64), targets: u64) -> u64 {
    targets | aff1 << 16 | intid << 24 | aff2 << 32 | range << 44 | aff3 << 48
}

pub fn run(own: &Own) -> Done {
    own.gic.init_cpu();
    for sgi in 0..16 {
        own.gic.enable_private(sgi);
    }
    irq::enable();
    let mut writes = 0u64;
    let registers = if own.gic.cpu_interface.is_some() {
        [gic::send_sgi_raw as fn(u64); 3]
    } else {
        REGISTERS
    };
    for write in registers {
        for intid in 0..16 {
            for range in 0..16 {
                for affinity in AFFINITIES {
                    for targets in TARGET_LISTS {
                        write(value(intid, range, affinity, targets));
                        writes += 1;
                    }
                }
            }
            // IRM = 1, with every other field set too.
            write(value(intid, 0xf, (0xff, 0xff, 0xff), 0xffff) | 1 << 40);
            write(value(intid, 0, (0, 0, 0), 0) | 1 << 40);
            writes += 2;
        }
    }
    timer::delay_ms(SETTLE_MS);
    let own_received = irq::count_range(0, 0..16);
    registers[0](value(u64::from(CONTROL_SGI), 0, (0, 0, 0), 1));
    let control = irq::wait_until(SETTLE_MS, || irq::count_range(0, 0..16) > own_received);
    irq::disable();
    println!(
        "attack sgi result=done writes={writes} own_received={own_received} control={}",
        u8::from(control)
    );
    Done("writes", writes)
}
