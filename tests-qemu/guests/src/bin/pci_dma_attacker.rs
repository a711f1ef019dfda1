//! Guest `pci_dma_attacker`: aims its passed-through edu's DMA at memory it does not own.
//!
//! Scans the bus and brings its edu up (as `pci_edu`), then for each of
//! [`TARGETS`], in order: loads the device buffer with 4 KiB of
//! `bulkhead_workload::dma::ATTACK_BYTE` (0xAA) from its own RAM, announces
//! `dma attack target=<name> addr=0x<a> start`, DMAs the buffer to the
//! target (device -> RAM, the write), clears the device buffer from a zero
//! page, DMAs 4 KiB from the target into the device (RAM -> device, the
//! read) and from there into its own page, and prints
//! `dma attack target=<name> addr=0x<a> done read_sum=0x<fnv> wrote_back=<bool> leaked=<bool>`:
//! `wrote_back` if what came back is all 0xAA (the write landed and the read
//! passed), `leaked` if it is the `pci_dma_victim`'s fill pattern for that
//! page. After the last target: `dma attack finished`, then SYSTEM_OFF.
//! Bulkhead's SMMU must abort every one of these DMAs (and report each
//! page once), or stop the partition at the first with
//! `on-dma-fault = "stop"`. Lines go through CONSOLE_WRITE.
#![no_std]
#![no_main]

use bulkhead_guests::edu::{self, Direction, DmaPage, Edu};
use bulkhead_guests::{guest_main, mark, pci, psci, BootInfo};
use bulkhead_workload::{self as workload, dma};
use core::sync::atomic::Ordering;

/// The victim's RAM: PA of its first region and the offset of its filled
/// data (mirror `pci_dma_victim` and the layouts).
pub const VICTIM_RAM_PA: u64 = 0x5100_0000;
pub const VICTIM_DATA_OFFSET: u64 = 4 << 20;

/// What the attacker DMAs at, by name, in order (bus addresses, which the
/// SMMU treats as the attacker's IPAs; the attacker's own RAM is IPA
/// 0x4000_0000..0x4100_0000 and it has no PCI BAR above 0x3f00_0000):
/// - `unmapped_ipa`: nothing at all there, in any partition's IPA space;
/// - `victim_image`: the victim's PA (its image, at IPA 0x4000_1000 there);
/// - `victim_data`: the victim's filled and checksummed data page;
/// - `bulkhead_heap`: Bulkhead's own memory (heap area);
/// - `victim_checkpoint_store`: the victim's checkpoint store.
pub const TARGETS: [(&str, u64); 5] = [
    ("unmapped_ipa", 0x7000_0000),
    ("victim_image", VICTIM_RAM_PA + 0x1000),
    ("victim_data", VICTIM_RAM_PA + VICTIM_DATA_OFFSET + 0x1000),
    ("bulkhead_heap", 0x4100_0000),
    ("victim_checkpoint_store", 0x6000_1000),
];

static ATTACK: DmaPage = DmaPage::new();
static ZERO: DmaPage = DmaPage::new();
static READ_BACK: DmaPage = DmaPage::new();

fn dma(edu: &Edu, direction: Direction, address: u64) {
    if edu.dma(direction, address, edu::DMA_BYTES).is_err() {
        mark!("dma attack error: dma {direction:?} at {address:#x} timed out");
        psci::system_off()
    }
}

/// Whether READ_BACK holds the victim's fill pattern for the page at `target`.
fn is_victim_page(target: u64) -> bool {
    let data = VICTIM_RAM_PA + VICTIM_DATA_OFFSET;
    let Some(offset) = target.checked_sub(data) else {
        return false;
    };
    let first = offset / workload::WORD_BYTES;
    READ_BACK
        .0
        .iter()
        .enumerate()
        .all(|(i, word)| word.load(Ordering::Relaxed) == workload::pattern(first + i as u64))
}

fn main(boot: &BootInfo) -> ! {
    let scan = pci::scan();
    let Some((_, edu, _)) = edu::bring_up(&scan, boot.gic()) else {
        psci::system_off()
    };
    ATTACK.fill_byte(dma::ATTACK_BYTE);
    ZERO.fill_byte(0);
    for (name, address) in TARGETS {
        dma(&edu, Direction::ToDevice, ATTACK.address());
        mark!("dma attack target={name} addr={address:#x} start");
        dma(&edu, Direction::ToRam, address);
        dma(&edu, Direction::ToDevice, ZERO.address());
        dma(&edu, Direction::ToDevice, address);
        READ_BACK.fill_byte(0x11);
        dma(&edu, Direction::ToRam, READ_BACK.address());
        let read_sum = READ_BACK.checksum();
        let wrote_back = read_sum == dma::constant_sum(dma::ATTACK_BYTE, edu::DMA_BYTES);
        mark!(
            "dma attack target={name} addr={address:#x} done read_sum={read_sum:#x} wrote_back={wrote_back} leaked={}",
            is_victim_page(address)
        );
    }
    mark!("dma attack finished");
    psci::system_off()
}

guest_main!(main);
