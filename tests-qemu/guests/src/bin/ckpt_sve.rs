//! Guest `ckpt_sve`: its whole SVE register file survives a rollback, at the longest vector length.
//!
//! Sets the longest vector length, fills Z0..Z31 and P0..P15 with a pattern
//! and FFR with a monotonic prefix, and checkpoints itself with nothing in
//! between; on the first return it scribbles over every register, shortens
//! its vector length to 128 bits and restores. On the second return the
//! register file must equal the pattern at the original length. Lines:
//! `sve taken vl=<bytes> zcr=<ZCR_EL1>`, `sve restored vl=<bytes> zcr=<ZCR_EL1>
//! mismatches=<n> ffr_ok=<bool> checksum=<hex>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, SELF};
use bulkhead_guests::cpu::{self, SVE_FILE_BYTES};
use bulkhead_guests::{abi, guest_main, println, psci, BootInfo};

static mut PATTERN: [u8; SVE_FILE_BYTES] = [0; SVE_FILE_BYTES];
static mut SEEN: [u8; SVE_FILE_BYTES] = [0; SVE_FILE_BYTES];
static mut JUNK: [u8; SVE_FILE_BYTES] = [0; SVE_FILE_BYTES];

/// FNV-1a over `bytes`.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn main(_boot: &BootInfo) -> ! {
    if !cpu::has_sve() {
        println!("sve unavailable");
        psci::system_off()
    }
    cpu::enable_sve();
    cpu::set_vector_length(0xf);
    let vl = cpu::vector_bytes();
    let used = cpu::sve_file_bytes(vl);
    // SAFETY: one vCPU; the statics are only used here, in sequence.
    let (pattern, seen, junk) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(PATTERN),
            &mut *core::ptr::addr_of_mut!(SEEN),
            &mut *core::ptr::addr_of_mut!(JUNK),
        )
    };
    for (index, byte) in pattern.iter_mut().enumerate() {
        *byte = (index as u32).wrapping_mul(2_654_435_761).rotate_right(13) as u8;
    }
    for (index, byte) in junk.iter_mut().enumerate() {
        *byte = !(index as u8);
    }
    // FFR: the first vl/2 + 3 byte elements true.
    let ffr_true = (vl / 2 + 3) as u64;
    let (x0, _) = cpu::take_self_holding_sve(pattern, ffr_true, seen);
    if x0 == abi::ret::SUCCESS as u64 {
        println!(
            "sve taken vl={} zcr={:#x}",
            vl,
            cpu::vector_length_register()
        );
        cpu::scribble_sve(junk);
        cpu::set_vector_length(0);
        let code = checkpoint::restore(SELF);
        println!("sve restore failed code={}", code);
        psci::system_off()
    }
    if x0 != abi::vendor::RESTORED {
        println!("sve take failed code={}", x0 as i64);
        psci::system_off()
    }
    let vl_after = cpu::vector_bytes();
    // Z and P: equal to the pattern; FFR: the monotonic prefix it was given.
    let zp = 32 * vl + 16 * (vl / 8);
    let mismatches = (0..zp).filter(|&i| seen[i] != pattern[i]).count();
    let ffr = &seen[zp..used];
    let ffr_ok = (0..vl).all(|element| {
        let bit = ffr[element / 8] >> (element % 8) & 1;
        bit == u8::from((element as u64) < ffr_true)
    });
    println!(
        "sve restored vl={} zcr={:#x} mismatches={} ffr_ok={} checksum={:#x}",
        vl_after,
        cpu::vector_length_register(),
        mismatches,
        ffr_ok,
        checksum(&seen[..zp])
    );
    psci::system_off()
}

guest_main!(main);
