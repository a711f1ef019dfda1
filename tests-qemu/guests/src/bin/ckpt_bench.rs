//! Guest `ckpt_bench`: times incremental checkpoints, first writes to protected pages and restores against a 4 KiB memcpy.
//!
//! One vCPU, a 32 MiB partition. The work area (first region + 4 MiB,
//! [`WORK_PAGES`] pages) is what gets dirtied; a scratch area past it takes
//! the memcpy copies. Lines (all figures in counter ticks):
//! - `ckpt_bench memcpy_4k pages=<n> ticks=<t> cntfrq=<f>`: n page copies;
//! - `ckpt_bench memcpy_4k_fast pages=<n> ticks=<t>`: the same with the
//!   64-byte SIMD loop of an optimized memcpy ([`copy::copy_simd`]);
//! - `ckpt_bench first pages_copied=.. pause_ticks=..`: the full checkpoint;
//! - `ckpt_bench incremental dirty=<k> pages_copied=<p> pause_ticks=<t> observed_ticks=<o>`:
//!   k pages written since the checkpoint before last (two slots), so the
//!   checkpoint copies them plus the few the guest itself touched (stack);
//!   `pause_ticks` is CHECKPOINT_STATUS's, `observed_ticks` the guest's view
//!   around the call;
//! - `ckpt_bench write_fault pages=<n> faulting_ticks=<a> plain_ticks=<b>`:
//!   one word written to each of n pages right after a checkpoint, then the
//!   same writes again on the now writable pages;
//! - `ckpt_bench restore_run dirty=<k> start=<t0>` then, after the rollback,
//!   `ckpt_bench restored dirty=<k> end=<t1> print_ticks=<p>`: memory and
//!   registers roll back, so the start time survives only as printed; the
//!   print between `t0` and the call costs `p` (the same line timed before
//!   the checkpoint), which the host subtracts;
//! - `ckpt_bench done`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{copy, guest_main, println, psci, timer, BootInfo};

/// Offset of the work area from the first region's start: past the image,
/// its stacks and tables.
const WORK_OFFSET: u64 = 4 << 20;
/// Pages in the work area: the largest dirty count.
const WORK_PAGES: u64 = 4096;
/// Offset of the memcpy destination area (past the work area).
const SCRATCH_OFFSET: u64 = WORK_OFFSET + WORK_PAGES * PAGE_BYTES + (1 << 20);
/// Page copies timed for the 4 KiB memcpy figure.
const MEMCPY_PAGES: u64 = 256;
/// Pages written for the write-fault figure.
const FAULT_PAGES: u64 = 1024;
/// Dirty page counts measured.
const DIRTY_COUNTS: [u64; 4] = [1, 16, 256, 4096];
const PAGE_BYTES: u64 = 4096;
/// Smallest first region this guest fits in: scratch area plus the device
/// tree's 2 MiB at the end.
const MIN_REGION: u64 = SCRATCH_OFFSET + MEMCPY_PAGES * PAGE_BYTES + (2 << 20);

fn fail(what: &str, code: i64) -> ! {
    println!("ckpt_bench error: {what} returned {code}");
    psci::system_off()
}

/// CHECKPOINT_TAKE on itself; the guest never restores in these calls.
fn take() -> u64 {
    match checkpoint::take(checkpoint::SELF) {
        Take::Taken { generation } => generation,
        Take::Restored { .. } => fail("take (unexpected restore)", 1),
        Take::Failed(code) => fail("take", code),
    }
}

fn status() -> checkpoint::Status {
    checkpoint::status(checkpoint::SELF).unwrap_or_else(|code| fail("status", code))
}

/// Writes one word into each of the first `pages` pages at `area`.
#[inline(never)]
fn dirty(area: u64, pages: u64, value: u64) {
    for page in 0..pages {
        // SAFETY: `main` checked that the work area (WORK_PAGES pages at
        // `area`) lies in the first region, clear of the image and the
        // device tree; only this vCPU runs.
        unsafe { core::ptr::write_volatile((area + page * PAGE_BYTES) as *mut u64, value) };
    }
}

/// Copies `pages` pages from `from` to `to`, one 4 KiB memcpy each.
#[inline(never)]
fn copy_pages(from: u64, to: u64, pages: u64) {
    for page in 0..pages {
        let offset = page * PAGE_BYTES;
        // SAFETY: both ranges lie in the checked work and scratch areas,
        // which do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(
                (from + offset) as *const u8,
                (to + offset) as *mut u8,
                PAGE_BYTES as usize,
            )
        };
    }
}

/// The same with the SIMD copy loop.
#[inline(never)]
fn copy_pages_fast(from: u64, to: u64, pages: u64) {
    for page in 0..pages {
        let offset = page * PAGE_BYTES;
        // SAFETY: as in `copy_pages`.
        unsafe {
            copy::copy_simd(
                (from + offset) as *const u8,
                (to + offset) as *mut u8,
                PAGE_BYTES as usize,
            )
        };
    }
}

/// Two back-to-back checkpoints, so that both slots are up to date and the
/// next one copies only what is written after this.
fn settle() {
    take();
    take();
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        fail("first_region", -1)
    };
    if size < MIN_REGION {
        println!("ckpt_bench error: first region {base:#x}+{size:#x} smaller than {MIN_REGION:#x}");
        psci::system_off()
    }
    let work = base + WORK_OFFSET;
    let scratch = base + SCRATCH_OFFSET;
    let frequency = boot.frequency;

    // Before the first checkpoint: no write protection yet, so the copies
    // take no stage-2 faults.
    copy_pages(work, scratch, MEMCPY_PAGES);
    let start = timer::now();
    copy_pages(work, scratch, MEMCPY_PAGES);
    let ticks = timer::now() - start;
    println!("ckpt_bench memcpy_4k pages={MEMCPY_PAGES} ticks={ticks} cntfrq={frequency}");
    copy_pages_fast(work, scratch, MEMCPY_PAGES);
    let start = timer::now();
    copy_pages_fast(work, scratch, MEMCPY_PAGES);
    let ticks = timer::now() - start;
    println!("ckpt_bench memcpy_4k_fast pages={MEMCPY_PAGES} ticks={ticks}");

    take();
    let first = status();
    println!(
        "ckpt_bench first pages_copied={} pause_ticks={}",
        first.pages_copied, first.pause_ticks
    );

    for (round, &pages) in DIRTY_COUNTS.iter().enumerate() {
        settle();
        dirty(work, pages, round as u64 + 1);
        let start = timer::now();
        take();
        let observed = timer::now() - start;
        let s = status();
        println!(
            "ckpt_bench incremental dirty={pages} pages_copied={} pause_ticks={} observed_ticks={observed}",
            s.pages_copied, s.pause_ticks
        );
    }

    settle();
    let start = timer::now();
    dirty(work, FAULT_PAGES, 0x5a5a);
    let faulting = timer::now() - start;
    let start = timer::now();
    dirty(work, FAULT_PAGES, 0xa5a5);
    let plain = timer::now() - start;
    println!(
        "ckpt_bench write_fault pages={FAULT_PAGES} faulting_ticks={faulting} plain_ticks={plain}"
    );

    for (round, &pages) in DIRTY_COUNTS.iter().enumerate() {
        settle();
        // The same line as `restore_run` below, timed: what it adds to the
        // measured span. Taken before the checkpoint, so it survives.
        let calibration = timer::now();
        println!("ckpt_bench restore_cal dirty={pages} start={calibration}");
        let print_ticks = timer::now() - calibration;
        match checkpoint::take(checkpoint::SELF) {
            Take::Taken { .. } => {
                dirty(work, pages, round as u64 + 0x100);
                let start = timer::now();
                println!("ckpt_bench restore_run dirty={pages} start={start}");
                let code = checkpoint::restore(checkpoint::SELF);
                fail("restore", code)
            }
            Take::Restored { .. } => {
                let end = timer::now();
                println!("ckpt_bench restored dirty={pages} end={end} print_ticks={print_ticks}");
            }
            Take::Failed(code) => fail("take", code),
        }
    }
    println!("ckpt_bench done");
    psci::system_off()
}

guest_main!(main);
