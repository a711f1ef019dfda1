//! Guest `pci_dma_fault_bench`: one DMA at an IPA it has no memory at, for the `smmu_fault_report` benchmark.
//!
//! Notes the counter as it starts the edu's device-to-RAM DMA at IPA
//! 0x7000_0000 (QEMU's edu performs it at the start of the millisecond
//! 100 ms later, where the SMMU aborts it), waits for the engine, prints
//! `dma fault bench start=<CNTVCT> cntfrq=<Hz>` and powers off. Bulkhead's
//! power-off summary says when it queued the report.
#![no_std]
#![no_main]

use bulkhead_guests::edu::{self, Direction};
use bulkhead_guests::{guest_main, mark, pci, psci, timer, BootInfo};

/// An IPA outside the partition's memory (mirrors the attacker's first target).
pub const TARGET: u64 = 0x7000_0000;

fn main(boot: &BootInfo) -> ! {
    let scan = pci::scan();
    let Some((_, edu, _)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };
    // QEMU's edu schedules the DMA on a millisecond clock (now, in whole
    // ms, + 100): start just after a millisecond boundary so that the
    // counter read here names that millisecond.
    let per_ms = timer::frequency() / 1000;
    while timer::now() % per_ms > per_ms / 4 {}
    let start = timer::now();
    edu.start_dma(Direction::ToRam, TARGET, edu::DMA_BYTES, false);
    if edu.wait_dma_polling().is_err() {
        mark!("edu error: dma timed out");
    }
    mark!(
        "dma fault bench start={start} cntfrq={}",
        timer::frequency()
    );
    psci::system_off()
}

guest_main!(main);
