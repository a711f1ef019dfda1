//! Guest `compute`: two vCPUs fill and checksum the work area, then switch off.
//!
//! vCPU 0 starts vCPU 1 with CPU_ON; each fills its half of the work area
//! (first memory region + 16 MiB .. its end - 2 MiB) with the
//! `bulkhead_workload` pattern, reads it back into a checksum and prints it;
//! vCPU 0 prints the combined figure the host recomputes.
#![no_std]
#![no_main]

use bulkhead_guests::{guest_main, println, psci, timer, BootInfo};
use bulkhead_workload as workload;
use core::sync::atomic::{AtomicU64, Ordering};

/// IPA of the work area's first word.
static AREA_BASE: AtomicU64 = AtomicU64::new(0);
/// Words in the work area.
static AREA_WORDS: AtomicU64 = AtomicU64::new(0);
/// Parts the work area is split into (one per vCPU taking part).
static PARTS: AtomicU64 = AtomicU64::new(1);
/// Checksum of vCPU 1's part, valid once `SECONDARY_DONE` is set.
static SECONDARY_SUM: AtomicU64 = AtomicU64::new(0);
static SECONDARY_DONE: AtomicU64 = AtomicU64::new(0);

/// Longest vCPU 0 waits for vCPU 1's half.
const SECONDARY_TIMEOUT_MS: u64 = 60_000;

/// Fills and checksums part `part`, printing the part's figure.
fn work(vcpu: u64, part: u64) -> u64 {
    let base = AREA_BASE.load(Ordering::Acquire);
    let range = workload::split(
        AREA_WORDS.load(Ordering::Acquire),
        PARTS.load(Ordering::Acquire),
        part,
    );
    let start = timer::now();
    let len = (range.end - range.start) as usize;
    // SAFETY: the work area lies inside this partition's first memory region,
    // past the image, stacks and page tables (first 16 MiB) and before the
    // device tree (last 2 MiB); parts are disjoint, so no two vCPUs alias.
    let words = unsafe {
        core::slice::from_raw_parts_mut(
            (base + range.start * workload::WORD_BYTES) as *mut u64,
            len,
        )
    };
    workload::fill(words, range.start);
    let sum = workload::checksum(words, range.start);
    // Start and end counter values let the host see that partitions overlapped.
    println!(
        "compute vcpu={vcpu} part={part} words={len} checksum={sum:#x} start={start} end={}",
        timer::now()
    );
    sum
}

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        println!("compute error: no memory region known");
        psci::system_off()
    };
    let Some(area) = workload::work_area(size) else {
        println!("compute error: first region {base:#x}+{size:#x} holds no work area");
        psci::system_off()
    };
    let words = (area.end - area.start) / workload::WORD_BYTES;
    AREA_BASE.store(base + area.start, Ordering::Release);
    AREA_WORDS.store(words, Ordering::Release);
    let vcpus = boot.vcpus();

    let mut parts = if vcpus >= 2 { 2 } else { 1 };
    PARTS.store(parts, Ordering::Release);
    if parts == 2 {
        let result = psci::cpu_on(1, 0);
        println!("compute cpu_on target=1 result={result}");
        if result != 0 {
            parts = 1;
            PARTS.store(parts, Ordering::Release);
        }
    }
    let start = timer::now();
    let mut sum = work(0, 0);
    if parts == 2 {
        while SECONDARY_DONE.load(Ordering::Acquire) == 0 {
            if timer::elapsed_ms(start) > SECONDARY_TIMEOUT_MS {
                println!("compute error: vcpu 1 did not finish");
                psci::system_off()
            }
            core::hint::spin_loop();
        }
        sum = workload::combine(sum, SECONDARY_SUM.load(Ordering::Acquire));
    }
    let memory = boot.partition.map(|p| p.memory_bytes).unwrap_or(size);
    println!(
        "compute checksum={sum:#x} cores={parts} memory={memory} region={size} ticks={} cntfrq={}",
        timer::now() - start,
        boot.frequency
    );
    psci::system_off()
}

fn secondary(vcpu: u64, _context: u64) -> ! {
    let sum = work(vcpu, 1);
    SECONDARY_SUM.store(sum, Ordering::Release);
    SECONDARY_DONE.store(1, Ordering::Release);
    let result = psci::cpu_off();
    println!("compute error: cpu_off returned {result}");
    psci::park()
}

guest_main!(main, secondary);
