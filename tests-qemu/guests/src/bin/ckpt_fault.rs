//! Guest `ckpt_fault`: takes a checkpoint, then crashes on purpose once; completes after the hypervisor restores or restarts it.
//!
//! Counts `progress` 1..=[`STEPS`], taking a checkpoint of itself at
//! [`CHECKPOINT_AT`]. At [`CRASH_AT`] it reads an IPA outside its memory
//! (a stage-2 fault) unless it already runs after a restore (CHECKPOINT_TAKE
//! returned RESTORED) or after a restart (`/chosen/bulkhead,boot-count` > 1).
//! With `on-fault = "restore"` it resumes at the checkpoint and completes;
//! with `"restart"` it boots again and completes on boot 2. Lines:
//! `ckpt boot count=<n>`, `ckpt seeds rng=<n> kaslr=<n>` (first words of
//! its DT's seeds), `ckpt progress=<n>`, `ckpt taken generation=<g>`
//! or `ckpt restored generation=<g>`, `ckpt crashing boot=<n> ipa=<a>`,
//! `ckpt completed boot=<n> progress=<n> restored=<0|1>`.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};

/// Last progress step.
pub const STEPS: u64 = 10;
/// Step after which the checkpoint is taken.
pub const CHECKPOINT_AT: u64 = 5;
/// Step at which the first run crashes.
pub const CRASH_AT: u64 = 8;
/// An IPA outside every test layout's partition memory (identity-mapped
/// Normal memory at stage 1, unmapped at stage 2).
pub const CRASH_IPA: u64 = 0x7000_0000;
/// Counter time between two steps.
const STEP_MS: u64 = 10;

fn main(boot: &BootInfo) -> ! {
    let boot_count = checkpoint::boot_count(boot.dtb).unwrap_or(0);
    println!("ckpt boot count={boot_count}");
    let (rng_seed, kaslr_seed) = checkpoint::seeds(boot.dtb);
    println!("ckpt seeds rng={rng_seed} kaslr={kaslr_seed}");
    let mut restored = false;
    for progress in 1..=STEPS {
        println!("ckpt progress={progress}");
        if progress == CHECKPOINT_AT {
            match checkpoint::take(checkpoint::SELF) {
                Take::Taken { generation } => println!("ckpt taken generation={generation}"),
                Take::Restored { .. } => {
                    restored = true;
                    let generation =
                        checkpoint::status(checkpoint::SELF).map_or(0, |s| s.generation);
                    println!("ckpt restored generation={generation}");
                }
                Take::Failed(code) => {
                    println!("ckpt_fault error: take returned {code}");
                    psci::system_off()
                }
            }
        }
        if progress == CRASH_AT && !restored && boot_count <= 1 {
            println!("ckpt crashing boot={boot_count} ipa={CRASH_IPA:#x}");
            // SAFETY: deliberately reads outside the partition's memory: the
            // stage-2 fault is the point. Stage 1 maps the address as Normal
            // memory, so only stage 2 can refuse it.
            let value = unsafe { core::ptr::read_volatile(CRASH_IPA as *const u64) };
            println!("ckpt_fault error: read {CRASH_IPA:#x} returned {value:#x}");
            psci::system_off()
        }
        timer::delay_ms(STEP_MS);
    }
    println!(
        "ckpt completed boot={boot_count} progress={STEPS} restored={}",
        u8::from(restored)
    );
    psci::system_off()
}

guest_main!(main);
