//! Guest `ckpt_incremental`: 100 checkpoints between seeded random writes, then a restore compared page by page with a full copy.
//!
//! The work area (first region + [`WORK_OFFSET`], 4 MiB) is filled with the
//! workload pattern; each of [`ROUNDS`] rounds makes [`WRITES_PER_ROUND`]
//! random single-word writes (`bulkhead_workload::random_writes`) and takes
//! a checkpoint of the partition. Just before the last one the guest copies
//! the whole area to a shadow (first region + [`SHADOW_OFFSET`]): a full copy
//! of the moment the checkpoint is taken. It then makes
//! [`WRITES_AFTER`] more random writes and restores; after the restore every
//! page of the area must equal the shadow. Lines: `ckpt first ...`,
//! `ckpt second ...` (it fills the store's other slot: a full copy too),
//! `ckpt incremental ...`, `ckpt last ...` (CHECKPOINT_STATUS figures),
//! `ckpt checkpoint hash=..`, `ckpt page at=<checkpoint|restore> index=<i> hash=<h>`,
//! `ckpt written hash=.. differing_pages=..`, `ckpt restoring`,
//! `ckpt restored generation=.. hash=.. differing_pages=.. pages=..`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{guest_main, println, psci, BootInfo};
use bulkhead_workload as workload;

/// Offset of the work area from the first region's start: past the image.
pub const WORK_OFFSET: u64 = 2 << 20;
/// Offset of the shadow copy.
pub const SHADOW_OFFSET: u64 = 8 << 20;
/// Words in the work area (4 MiB, 1024 pages).
pub const WORK_WORDS: u64 = (4 << 20) / workload::WORD_BYTES;
/// Checkpoints taken.
pub const ROUNDS: u64 = 100;
/// Random writes before each checkpoint.
pub const WRITES_PER_ROUND: u64 = 16;
/// Random writes between the last checkpoint and the restore.
pub const WRITES_AFTER: u64 = 256;
/// Initial random generator state.
pub const RANDOM_SEED: u64 = 0x636b_7074_696e_6372;
/// Pages whose hashes are printed (evenly spaced).
pub const SAMPLE_PAGES: u64 = 16;

/// `len` words at `offset` bytes into the first region at `base`.
fn region_words(base: u64, offset: u64) -> &'static mut [u64] {
    // SAFETY: `main` checked that [base + offset, + 4 MiB) lies in this
    // partition's first region past the image and before the device tree;
    // the work area and shadow are disjoint and only vCPU 0 runs.
    unsafe { core::slice::from_raw_parts_mut((base + offset) as *mut u64, WORK_WORDS as usize) }
}

/// Hash of page `page` of `words`.
fn page_hash(words: &[u64], page: u64) -> u64 {
    let first = page * workload::PAGE_WORDS;
    let slice = words
        .get(first as usize..(first + workload::PAGE_WORDS) as usize)
        .unwrap_or(&[]);
    workload::checksum(slice, first)
}

/// Pages of `a` that differ from `b`.
fn differing_pages(a: &[u64], b: &[u64]) -> u64 {
    a.chunks(workload::PAGE_WORDS as usize)
        .zip(b.chunks(workload::PAGE_WORDS as usize))
        .filter(|(x, y)| x != y)
        .count() as u64
}

fn print_samples(words: &[u64], at: &str) {
    let pages = WORK_WORDS / workload::PAGE_WORDS;
    for sample in 0..SAMPLE_PAGES {
        let index = sample * pages / SAMPLE_PAGES;
        println!(
            "ckpt page at={at} index={index} hash={:#x}",
            page_hash(words, index)
        );
    }
}

fn status() -> checkpoint::Status {
    match checkpoint::status(checkpoint::SELF) {
        Ok(status) => status,
        Err(code) => {
            println!("ckpt_incremental error: status returned {code}");
            psci::system_off()
        }
    }
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("ckpt_incremental error: no memory region known");
        psci::system_off()
    };
    if size < SHADOW_OFFSET + WORK_WORDS * workload::WORD_BYTES + workload::DT_RESERVE {
        println!("ckpt_incremental error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    let work = region_words(base, WORK_OFFSET);
    let shadow = region_words(base, SHADOW_OFFSET);
    workload::fill(work, 0);

    let mut state = RANDOM_SEED;
    let mut max_incremental = 0;
    let mut round = 0;
    let restored = loop {
        round += 1;
        state = workload::random_writes(work, state, WRITES_PER_ROUND);
        if round == ROUNDS {
            shadow.copy_from_slice(work);
        }
        match checkpoint::take(checkpoint::SELF) {
            Take::Taken { generation } => {
                let s = status();
                if round == 1 {
                    println!(
                        "ckpt first generation={generation} pages_copied={} pause_ticks={}",
                        s.pages_copied, s.pause_ticks
                    );
                } else if round == 2 {
                    // The second checkpoint fills the other, still empty slot.
                    println!("ckpt second pages_copied={}", s.pages_copied);
                } else if round < ROUNDS {
                    max_incremental = max_incremental.max(s.pages_copied);
                }
                if round == ROUNDS {
                    break false;
                }
            }
            Take::Restored { .. } => break true,
            Take::Failed(code) => {
                println!("ckpt_incremental error: take {round} returned {code}");
                psci::system_off()
            }
        }
    };

    if restored {
        let s = status();
        println!(
            "ckpt restored generation={} hash={:#x} differing_pages={} pages={}",
            s.generation,
            workload::checksum(work, 0),
            differing_pages(work, shadow),
            WORK_WORDS / workload::PAGE_WORDS
        );
        print_samples(work, "restore");
        psci::system_off()
    }

    println!(
        "ckpt incremental rounds={} max_pages_copied={max_incremental}",
        ROUNDS - 3
    );
    let s = status();
    println!(
        "ckpt last generation={} taken={} pages_copied={} pause_ticks={}",
        s.generation, s.taken, s.pages_copied, s.pause_ticks
    );
    println!("ckpt checkpoint hash={:#x}", workload::checksum(work, 0));
    print_samples(work, "checkpoint");
    let _ = workload::random_writes(work, state, WRITES_AFTER);
    println!(
        "ckpt written hash={:#x} differing_pages={}",
        workload::checksum(work, 0),
        differing_pages(work, shadow)
    );
    println!("ckpt restoring");
    let code = checkpoint::restore(checkpoint::SELF);
    println!("ckpt_incremental error: restore returned {code}");
    psci::system_off()
}

guest_main!(main);
