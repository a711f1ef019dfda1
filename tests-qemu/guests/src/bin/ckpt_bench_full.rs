//! Guest `ckpt_bench_full`: times a memcpy of its whole memory's size, then its first (full) checkpoint.
//!
//! One vCPU. The memcpy moves as many bytes as the partition has RAM, in
//! chunks bounced between two halves of the area between the image (first
//! 2 MiB) and the device tree (last 2 MiB), since nothing can copy all of a
//! partition's memory inside it. It runs before any checkpoint, so no write
//! faults. The same bytes are then copied again with the 64-byte SIMD loop
//! of an optimized memcpy ([`copy::copy_simd`]). Then the first checkpoint
//! copies every page. Line:
//! `ckpt_bench full memory=<bytes> memcpy_bytes=<b> memcpy_ticks=<t> memcpy_fast_ticks=<t> pages_copied=<p> pause_ticks=<t> observed_ticks=<o> cntfrq=<f>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{copy, guest_main, println, psci, timer, BootInfo};

/// Start of the copy area: past the image, its stacks and tables.
const AREA_OFFSET: u64 = 2 << 20;
/// Kept free at the end of the region: the device tree.
const DT_RESERVE: u64 = 2 << 20;

fn fail(what: &str, code: i64) -> ! {
    println!("ckpt_bench_full error: {what} returned {code}");
    psci::system_off()
}

/// Copies `total` bytes between the two halves (`half` bytes each) at `area`.
#[inline(never)]
fn bounce_copy(area: u64, half: u64, total: u64, fast: bool) {
    let (mut from, mut to) = (area, area + half);
    let mut left = total;
    while left > 0 {
        let bytes = left.min(half);
        // SAFETY: both halves lie in the first region between the image and
        // the device tree (checked by `main`) and do not overlap.
        unsafe {
            if fast {
                // `half` is page-aligned, so `bytes` is whole 64-byte steps.
                copy::copy_simd(from as *const u8, to as *mut u8, bytes as usize)
            } else {
                core::ptr::copy_nonoverlapping(from as *const u8, to as *mut u8, bytes as usize)
            }
        };
        core::mem::swap(&mut from, &mut to);
        left -= bytes;
    }
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        fail("first_region", -1)
    };
    let memory = boot.partition.map_or(size, |p| p.memory_bytes);
    let Some(usable) = size.checked_sub(AREA_OFFSET + DT_RESERVE) else {
        fail("first region too small", -2)
    };
    // Page-aligned halves, so the copies look like the checkpoint's.
    let half = (usable / 2) & !0xfff;
    if half == 0 {
        fail("first region too small", -2)
    }
    let area = base + AREA_OFFSET;

    let start = timer::now();
    bounce_copy(area, half, memory, false);
    let memcpy_ticks = timer::now() - start;
    let start = timer::now();
    bounce_copy(area, half, memory, true);
    let memcpy_fast_ticks = timer::now() - start;

    let start = timer::now();
    match checkpoint::take(checkpoint::SELF) {
        Take::Taken { .. } => {}
        Take::Restored { .. } => fail("take (unexpected restore)", 1),
        Take::Failed(code) => fail("take", code),
    }
    let observed = timer::now() - start;
    let s = checkpoint::status(checkpoint::SELF).unwrap_or_else(|code| fail("status", code));
    println!(
        "ckpt_bench full memory={memory} memcpy_bytes={memory} memcpy_ticks={memcpy_ticks} memcpy_fast_ticks={memcpy_fast_ticks} pages_copied={} pause_ticks={} observed_ticks={observed} cntfrq={}",
        s.pages_copied, s.pause_ticks, boot.frequency
    );
    psci::system_off()
}

guest_main!(main);
