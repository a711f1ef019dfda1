//! Guest `pci_edu_checkpoint`: checkpoints itself while its edu's DMA is in flight, lets DMA write after the checkpoint, and restores.
//!
//! With A, B, C, E page-aligned 4 KiB buffers and a 4 MiB area at first
//! region + [`AREA_OFFSET`] filled with `bulkhead_workload::fill`:
//! 1. A gets pattern `seed(partition, 1)` (`bulkhead_workload::dma`), DMAed
//!    A -> device -> C; the hashes of the area (`workload::checksum`), A and
//!    C (FNV-1a 64) are the reference:
//!    `ckpt dma prepared area=0x<h> a=0x<h> c=0x<h> c_equal=<bool>`.
//! 2. B is zeroed, a device -> B DMA is started and, while it is in
//!    flight, CHECKPOINT_TAKE(SELF).
//! 3. First return: waits for that DMA (B must then hold the pattern),
//!    `ckpt dma taken generation=<g> inflight_equal=<bool> unchanged=<bool>`
//!    (unchanged: the three hashes are still the reference); then writes C
//!    by DMA only (pattern `seed(partition, 2)` from E through the device)
//!    and scribbles A and the area's first page by CPU:
//!    `ckpt dma scribbled dma_write_equal=<bool> area=0x<h> a=0x<h> c=0x<h>`;
//!    CHECKPOINT_RESTORE(SELF).
//! 4. Second return (after the restore): the hashes must be the reference
//!    again, C included although only a DMA wrote it after the checkpoint;
//!    then one more A -> device -> B round trip shows the function still
//!    works: `ckpt dma restored=true equal=<bool> area=0x<h> a=0x<h> c=0x<h>
//!    dma_after_restore_equal=<bool> dma_faults_seen=<n>`, where
//!    `dma_faults_seen` counts the DMAs of this pass (steps 1 and 4) that did
//!    not deliver what they should (how an aborted DMA looks from inside).
//!
//! Then `ckpt dma done` and SYSTEM_OFF. Lines go through CONSOLE_WRITE.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::edu::{self, Direction, DmaPage, Edu};
use bulkhead_guests::{guest_main, mark, pci, psci, BootInfo};
use bulkhead_workload::{self as workload, dma};

/// Offset of the hashed area from the first region's start (past the image).
pub const AREA_OFFSET: u64 = 4 << 20;
/// Bytes of the hashed area.
pub const AREA_BYTES: u64 = 4 << 20;

static A: DmaPage = DmaPage::new();
static B: DmaPage = DmaPage::new();
static C: DmaPage = DmaPage::new();
static E: DmaPage = DmaPage::new();

/// The hashes compared across the checkpoint: (area, A, C).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hashes {
    area: u64,
    a: u64,
    c: u64,
}

impl Hashes {
    fn now(area: &[u64]) -> Self {
        Hashes {
            area: workload::checksum(area, 0),
            a: A.checksum(),
            c: C.checksum(),
        }
    }
}

fn dma(edu: &Edu, direction: Direction, page: &DmaPage) {
    if edu.dma(direction, page.address(), edu::DMA_BYTES).is_err() {
        mark!(
            "ckpt dma error: dma {direction:?} at {:#x} timed out",
            page.address()
        );
        psci::system_off()
    }
}

fn main(boot: &BootInfo) -> ! {
    let partition = boot.partition.map_or(0, |p| p.id);
    let Some((base, size)) = boot.first_region() else {
        mark!("ckpt dma error: no memory region known");
        psci::system_off()
    };
    if size < AREA_OFFSET + AREA_BYTES + workload::DT_RESERVE {
        mark!("ckpt dma error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    // SAFETY: the area lies in our first region past the image, its .bss
    // and stacks (which end below AREA_OFFSET) and before the device tree
    // (checked above); nothing else in this partition uses it.
    let area = unsafe {
        core::slice::from_raw_parts_mut(
            (base + AREA_OFFSET) as *mut u64,
            (AREA_BYTES / workload::WORD_BYTES) as usize,
        )
    };
    let scan = pci::scan();
    let Some((function, edu, _)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };

    let first = dma::seed(partition, 1);
    workload::fill(area, 0);
    A.fill_pattern(first);
    dma(&edu, Direction::ToDevice, &A);
    dma(&edu, Direction::ToRam, &C);
    let c_equal = C.holds_pattern(first);
    let reference = Hashes::now(area);
    mark!(
        "ckpt dma prepared area={:#x} a={:#x} c={:#x} c_equal={c_equal}",
        reference.area,
        reference.a,
        reference.c
    );

    B.fill_byte(0);
    edu.start_dma(Direction::ToRam, B.address(), edu::DMA_BYTES, false);
    match checkpoint::take(checkpoint::SELF) {
        Take::Taken { generation } => {
            let waited = edu.wait_dma_polling().is_ok();
            let inflight_equal = waited && B.holds_pattern(first);
            let unchanged = Hashes::now(area) == reference;
            mark!("ckpt dma taken generation={generation} inflight_equal={inflight_equal} unchanged={unchanged}");

            let second = dma::seed(partition, 2);
            E.fill_pattern(second);
            dma(&edu, Direction::ToDevice, &E);
            dma(&edu, Direction::ToRam, &C);
            let dma_write_equal = C.holds_pattern(second);
            A.fill_byte(0x55);
            for word in area.iter_mut().take(workload::PAGE_WORDS as usize) {
                *word = !*word;
            }
            let scribbled = Hashes::now(area);
            mark!(
                "ckpt dma scribbled dma_write_equal={dma_write_equal} area={:#x} a={:#x} c={:#x}",
                scribbled.area,
                scribbled.a,
                scribbled.c
            );
            let code = checkpoint::restore(checkpoint::SELF);
            mark!("ckpt dma error: restore returned {code}");
        }
        Take::Restored { .. } => {
            let restored = Hashes::now(area);
            function.enable_memory_and_bus_master();
            B.fill_byte(0);
            dma(&edu, Direction::ToDevice, &A);
            dma(&edu, Direction::ToRam, &B);
            let again = B.holds_pattern(first);
            let faults = u64::from(!c_equal) + u64::from(!again);
            mark!(
                "ckpt dma restored=true equal={} area={:#x} a={:#x} c={:#x} dma_after_restore_equal={again} dma_faults_seen={faults}",
                restored == reference,
                restored.area,
                restored.a,
                restored.c
            );
            mark!("ckpt dma done");
        }
        Take::Failed(code) => mark!("ckpt dma error: take returned {code}"),
    }
    psci::system_off()
}

guest_main!(main);
