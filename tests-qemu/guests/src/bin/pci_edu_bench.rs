//! Guest `pci_edu_bench`: times 4 KiB edu DMA round trips (RAM -> device -> RAM, each DMA waited for by its interrupt).
//!
//! Runs under Bulkhead (edu behind the virtual host bridge and the SMMU) and
//! bare on QEMU (no SMMU), so the benchmark compares the two. Prints
//! `edu bench round_trips=<n> ticks=<CNTVCT ticks> cntfrq=<Hz>`, then
//! `edu bench done`, and powers off. QEMU's edu takes 100 ms of virtual
//! time per DMA; the rest is the driver's and the interrupt path's work.
#![no_std]
#![no_main]

use bulkhead_guests::edu::{self, Direction, DmaPage};
use bulkhead_guests::{guest_main, mark, pci, psci, timer, BootInfo};

/// Round trips timed (two DMAs each).
pub const ROUND_TRIPS: u64 = 20;

static SOURCE: DmaPage = DmaPage::new();
static DESTINATION: DmaPage = DmaPage::new();

fn main(boot: &BootInfo) -> ! {
    let scan = pci::scan();
    let Some((_, edu, _)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };
    SOURCE.fill_pattern(1);
    let start = timer::now();
    for _ in 0..ROUND_TRIPS {
        let moved = edu
            .dma(Direction::ToDevice, SOURCE.address(), edu::DMA_BYTES)
            .and_then(|()| edu.dma(Direction::ToRam, DESTINATION.address(), edu::DMA_BYTES));
        if moved.is_err() {
            mark!("edu error: dma timed out");
            psci::system_off()
        }
    }
    let ticks = timer::now() - start;
    mark!(
        "edu bench round_trips={ROUND_TRIPS} ticks={ticks} cntfrq={}",
        timer::frequency()
    );
    mark!("edu bench done equal={}", DESTINATION.holds_pattern(1));
    psci::system_off()
}

guest_main!(main);
