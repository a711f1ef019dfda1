//! EL2 stage-1 translation: an identity map of the board with caches on.
//!
//! One level-1 table of 1 GiB blocks (39-bit VA). The hypervisor reaches all
//! RAM (its own, the boot modules, partition memory for copies) at VA == PA.

use core::cell::UnsafeCell;

use aarch64_cpu::registers::{
    Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL2, SCTLR_EL2, TCR_EL2, TTBR0_EL2,
};

use super::sysreg::{dsb_sy, isb};

/// What one 1 GiB block of the identity map holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Device,
    Normal,
    Unmapped,
}

/// The 1 GiB blocks of the qemu-virt physical map: MMIO below RAM, RAM (and
/// room for larger RAM) up to 256 GiB, PCIe ECAM and MMIO above.
fn block_kind(index: usize) -> BlockKind {
    match index {
        0 => BlockKind::Device,
        1..=255 => BlockKind::Normal,
        256..=511 => BlockKind::Device,
        _ => BlockKind::Unmapped,
    }
}

#[repr(C, align(4096))]
struct Level1Table(UnsafeCell<[u64; 512]>);

// SAFETY: written once by the boot CPU before any other core runs, then
// only read by the MMU.
unsafe impl Sync for Level1Table {}

static LEVEL1: Level1Table = Level1Table(UnsafeCell::new([0; 512]));

const MAIR_DEVICE_INDEX: u64 = 0;
const MAIR_NORMAL_INDEX: u64 = 1;
const DESC_BLOCK: u64 = 0b01;
const DESC_AF: u64 = 1 << 10;
const DESC_SH_INNER: u64 = 0b11 << 8;
const DESC_XN: u64 = 1 << 54;

fn block_descriptor(index: usize) -> u64 {
    let address = (index as u64) << 30;
    match block_kind(index) {
        BlockKind::Unmapped => 0,
        BlockKind::Device => address | DESC_BLOCK | DESC_AF | (MAIR_DEVICE_INDEX << 2) | DESC_XN,
        BlockKind::Normal => {
            address | DESC_BLOCK | DESC_AF | DESC_SH_INNER | (MAIR_NORMAL_INDEX << 2)
        }
    }
}

/// Fills the identity map. Boot CPU only, before [`enable`].
pub fn build_identity_map() {
    // SAFETY: called once by the boot CPU before the MMU or any other core
    // uses the table, so nothing else references it.
    let table = unsafe { &mut *LEVEL1.0.get() };
    for (index, entry) in table.iter_mut().enumerate() {
        *entry = block_descriptor(index);
    }
}

/// Turns on the EL2 MMU and caches with the identity map. Every core calls it.
pub fn enable() {
    MAIR_EL2.write(
        MAIR_EL2::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
            + MAIR_EL2::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL2::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc,
    );
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(0b101);
    TCR_EL2.set(
        25 // T0SZ: 39-bit VA
            | (0b01 << 8) // IRGN0 WB WA
            | (0b01 << 10) // ORGN0 WB WA
            | (0b11 << 12) // SH0 inner shareable
            | (pa_range << 16) // PS
            | (1 << 23)
            | (1 << 31), // RES1
    );
    TTBR0_EL2.set(LEVEL1.0.get() as u64);
    // SAFETY: invalidating EL2 TLB entries only discards cached translations.
    unsafe { core::arch::asm!("tlbi alle2", options(nostack)) };
    dsb_sy();
    isb();
    SCTLR_EL2.set(SCTLR_EL2.get() | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 12));
    isb();
}
