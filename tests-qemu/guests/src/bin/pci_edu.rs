//! Guest `pci_edu`: drives the edu function Bulkhead passes through: bus scan, factorial with its interrupt, DMA round trips.
//!
//! Scans the virtual PCI bus (`pci function ...`, `pci scan functions=<n>`,
//! `pci msi hidden=<bool>`, see `bulkhead_guests::pci`), brings the first
//! edu up (`edu function=<bdf> ident=0x10000ed live=true intid=<n> ...`),
//! computes 10! through the completion interrupt
//! (`edu factorial n=10 result=3628800 irqs=1`), then DMAs a page of pattern
//! `seed(partition, 0)` (`bulkhead_workload::dma`) from buffer A to the
//! device and back into a zeroed buffer B
//! (`edu dma bytes=4096 src_sum=0x<fnv> dst_sum=0x<fnv> equal=true`), and
//! [`ROUNDS`] more round trips with patterns `seed(partition, r)`, r =
//! 1..=ROUNDS, each verified word by word
//! (`edu rounds=<n> mismatches=<m> last_sum=0x<fnv of round n> dma_irqs=<i> empty_irqs=<e>`),
//! `edu done`, then SYSTEM_OFF. Every DMA waits for its completion
//! interrupt. Lines go through CONSOLE_WRITE.
#![no_std]
#![no_main]

use bulkhead_guests::edu::{self, Direction, DmaPage, Edu};
use bulkhead_guests::{guest_main, mark, pci, psci, timer, BootInfo};
use bulkhead_workload::dma;

/// Round trips after the first (QEMU's edu takes 100 ms of virtual time
/// per DMA: 2 per round).
pub const ROUNDS: u64 = 1000;
/// The factorial asked for.
pub const FACTORIAL_N: u32 = 10;

static SOURCE: DmaPage = DmaPage::new();
static DESTINATION: DmaPage = DmaPage::new();

/// Pattern `seed` from SOURCE through the device into a zeroed DESTINATION;
/// whether DESTINATION holds the pattern after.
fn round_trip(edu: &Edu, seed: u64) -> bool {
    SOURCE.fill_pattern(seed);
    DESTINATION.fill_byte(0);
    let moved = edu
        .dma(Direction::ToDevice, SOURCE.address(), edu::DMA_BYTES)
        .and_then(|()| edu.dma(Direction::ToRam, DESTINATION.address(), edu::DMA_BYTES));
    if moved.is_err() {
        mark!("edu error: dma timed out seed={seed:#x}");
        psci::system_off()
    }
    DESTINATION.holds_pattern(seed)
}

fn main(boot: &BootInfo) -> ! {
    let partition = boot.partition.map_or(0, |p| p.id);
    let scan = pci::scan();
    let Some((_, edu, _)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };

    match edu.factorial_with_irq(FACTORIAL_N) {
        Ok((result, irqs)) => mark!("edu factorial n={FACTORIAL_N} result={result} irqs={irqs}"),
        Err(_) => mark!("edu error: factorial timed out"),
    }

    let seed = dma::seed(partition, 0);
    let equal = round_trip(&edu, seed);
    mark!(
        "edu dma bytes={} src_sum={:#x} dst_sum={:#x} equal={equal}",
        edu::DMA_BYTES,
        SOURCE.checksum(),
        DESTINATION.checksum()
    );

    let start = timer::now();
    let mut mismatches = 0u64;
    for round in 1..=ROUNDS {
        if !round_trip(&edu, dma::seed(partition, round)) {
            mismatches += 1;
        }
    }
    mark!(
        "edu rounds={ROUNDS} mismatches={mismatches} last_sum={:#x} dma_irqs={} empty_irqs={} ms={}",
        DESTINATION.checksum(),
        edu::dma_interrupts(),
        edu::empty_interrupts(),
        timer::elapsed_ms(start)
    );
    mark!("edu done");
    psci::system_off()
}

guest_main!(main);
