//! Guest `ckpt_worker`: a partition others checkpoint and restore; prints a rising progress counter.
//!
//! Every [`PERIOD_MS`] it increments its counter (in memory, so a restore
//! takes it back), writes it to the scratch page at first region +
//! [`SCRATCH_OFFSET`] (IPA [`SCRATCH_IPA`] in the test layouts: a page it
//! dirties after any checkpoint, for the corruption test) and prints
//! `worker progress=<n>`; at [`LAST`] it prints `worker done progress=<n>`
//! and switches off.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Counter time between two increments.
pub const PERIOD_MS: u64 = 20;
/// Progress at which the worker stops.
pub const LAST: u64 = 100;
/// Offset of the scratch page from the first region's start.
pub const SCRATCH_OFFSET: u64 = 4 << 20;
/// The scratch page's IPA when the first region starts at 0x4000_0000.
pub const SCRATCH_IPA: u64 = 0x4000_0000 + SCRATCH_OFFSET;

static PROGRESS: AtomicU64 = AtomicU64::new(0);

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("ckpt_worker error: no memory region known");
        psci::system_off()
    };
    if size < SCRATCH_OFFSET + (4 << 20) {
        println!("ckpt_worker error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    let scratch = (base + SCRATCH_OFFSET) as *mut u64;
    loop {
        let progress = PROGRESS.fetch_add(1, Ordering::AcqRel) + 1;
        // SAFETY: the scratch page lies in our first region (size checked
        // above), past the image and before the device tree; only this vCPU
        // touches it.
        unsafe { core::ptr::write_volatile(scratch, progress) };
        println!("worker progress={progress}");
        if progress >= LAST {
            break;
        }
        timer::delay_ms(PERIOD_MS);
    }
    println!("worker done progress={}", PROGRESS.load(Ordering::Acquire));
    psci::system_off()
}

guest_main!(main);
