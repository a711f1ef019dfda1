//! Guest `pci_dma_victim`: no PCI; fills and checksums its RAM while a neighbour's device DMAs at it, then proves its checkpoint store intact.
//!
//! Fills [`DATA_BYTES`] at first region + [`DATA_OFFSET`] with
//! `bulkhead_workload::fill` (global word indices from 0) and prints
//! `victim checksum before=0x<c>`; takes a checkpoint of itself
//! (`victim checkpoint taken generation=<g>`), sleeps [`WAIT_MS`] (in `wfi`,
//! so an `-icount` clock jumps) while the attacker runs, checksums again
//! (`victim checksum after=0x<c> equal=<bool>`), scribbles over its first
//! data page and restores the checkpoint: the store the attacker aimed at
//! must give the data back (`victim restored checksum=0x<c> equal=<bool>`),
//! then SYSTEM_OFF. Lines go through CONSOLE_WRITE.
#![no_std]
#![no_main]

use bulkhead_guests::checkpoint::{self, Take};
use bulkhead_guests::{edu, guest_main, mark, psci, BootInfo};
use bulkhead_workload as workload;

/// Offset of the filled data from the first region's start (past the image).
pub const DATA_OFFSET: u64 = 4 << 20;
/// Bytes filled and checksummed.
pub const DATA_BYTES: u64 = 8 << 20;
/// Counter time the attacker gets.
pub const WAIT_MS: u64 = 6000;

fn main(boot: &BootInfo) -> ! {
    let Some((base, size)) = boot.first_region() else {
        mark!("victim error: no memory region known");
        psci::system_off()
    };
    if size < DATA_OFFSET + DATA_BYTES + workload::DT_RESERVE {
        mark!("victim error: first region {base:#x}+{size:#x} too small");
        psci::system_off()
    }
    // SAFETY: the data lies in our first region past the image and stacks
    // (which end below DATA_OFFSET) and before the device tree (checked
    // above); nothing else in this partition uses it.
    let data = unsafe {
        core::slice::from_raw_parts_mut(
            (base + DATA_OFFSET) as *mut u64,
            (DATA_BYTES / workload::WORD_BYTES) as usize,
        )
    };
    workload::fill(data, 0);
    let before = workload::checksum(data, 0);
    mark!("victim checksum before={before:#x}");
    edu::enable_watchdog(boot.gic());
    match checkpoint::take(checkpoint::SELF) {
        Take::Taken { generation } => {
            mark!("victim checkpoint taken generation={generation}");
            edu::sleep_ms(WAIT_MS);
            let after = workload::checksum(data, 0);
            mark!("victim checksum after={after:#x} equal={}", after == before);
            for word in data.iter_mut().take(workload::PAGE_WORDS as usize) {
                *word = !*word;
            }
            let code = checkpoint::restore(checkpoint::SELF);
            mark!("victim error: restore returned {code}");
        }
        Take::Restored { .. } => {
            let restored = workload::checksum(data, 0);
            mark!(
                "victim restored checksum={restored:#x} equal={}",
                restored == before
            );
        }
        Take::Failed(code) => mark!("victim error: take returned {code}"),
    }
    psci::system_off()
}

guest_main!(main);
