//! EL2 stage-1 translation: an identity map of the board with caches on.
//!
//! Two maps, both planned in `bulkhead_core::config::el2_map`. The early map,
//! built with the MMU off before anything else, holds the board's reserved
//! area (image, heap, stacks, the DTB) and its early console. Once the board
//! DT is read, [`switch_to_board_map`] replaces it with the map of the DT's
//! RAM (normal memory) and devices (device memory). Both use one level-1
//! table (39-bit VA, 1 GiB blocks) and level-2 tables of 2 MiB blocks where
//! a gigabyte holds more than one kind.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::registers::{
    Readable, Writeable, ID_AA64MMFR0_EL1, MAIR_EL2, SCTLR_EL2, TCR_EL2, TTBR0_EL2,
};
use bulkhead_core::config::el2_map::{BlockKind, EarlyMap, El2Map, BLOCK_SIZE, GIB};

use super::sysreg::{dsb_sy, isb};

/// Level-2 tables each map may use: a gigabyte mixing RAM, devices and
/// holes takes one (QEMU virt and the Raspberry Pi 4 need two).
const EARLY_TABLES: usize = 4;
const BOARD_TABLES: usize = 8;

/// One translation table, 4 KiB aligned as the architecture requires.
#[repr(C, align(4096))]
struct Table([u64; 512]);

/// A level-1 table and its pool of level-2 tables.
struct Tables<const N: usize> {
    level1: Table,
    level2: [Table; N],
}

struct MapStorage<const N: usize>(UnsafeCell<Tables<N>>);

// SAFETY: each map is written by the boot CPU alone, before any core
// translates through it (see `build`), then only read by the MMU.
unsafe impl<const N: usize> Sync for MapStorage<N> {}

impl<const N: usize> MapStorage<N> {
    const fn new() -> Self {
        MapStorage(UnsafeCell::new(Tables {
            level1: Table([0; 512]),
            level2: [const { Table([0; 512]) }; N],
        }))
    }
}

static EARLY: MapStorage<EARLY_TABLES> = MapStorage::new();
static BOARD: MapStorage<BOARD_TABLES> = MapStorage::new();

/// The level-1 table every core enables: the early map until the board map
/// is installed.
static ROOT: AtomicU64 = AtomicU64::new(0);

const MAIR_DEVICE_INDEX: u64 = 0;
const MAIR_NORMAL_INDEX: u64 = 1;
const DESC_VALID_BLOCK: u64 = 0b01;
const DESC_TABLE: u64 = 0b11;
/// Level-2 block descriptors also use 0b01; a level-3 page would be 0b11.
const DESC_AF: u64 = 1 << 10;
const DESC_SH_INNER: u64 = 0b11 << 8;
const DESC_XN: u64 = 1 << 54;

fn block_descriptor(address: u64, kind: BlockKind) -> u64 {
    match kind {
        BlockKind::Unmapped => 0,
        BlockKind::Device => {
            address | DESC_VALID_BLOCK | DESC_AF | (MAIR_DEVICE_INDEX << 2) | DESC_XN
        }
        BlockKind::Normal => {
            address | DESC_VALID_BLOCK | DESC_AF | DESC_SH_INNER | (MAIR_NORMAL_INDEX << 2)
        }
    }
}

/// The map needs more level-2 tables than the pool holds.
#[derive(Debug)]
pub struct TooManyTables {
    pub needed: usize,
    pub available: usize,
}

/// Fills `tables` from `uniform_gib` (a gigabyte's kind if it is all one)
/// and `kind_at` (what the 2 MiB block at an address holds).
fn build<const N: usize>(
    tables: &mut Tables<N>,
    uniform_gib: impl Fn(usize) -> Option<BlockKind>,
    kind_at: impl Fn(u64) -> BlockKind,
) -> Result<(), TooManyTables> {
    let mut used = 0;
    for (index, entry) in tables.level1.0.iter_mut().enumerate() {
        let base = index as u64 * GIB;
        if let Some(kind) = uniform_gib(index) {
            *entry = block_descriptor(base, kind);
            continue;
        }
        let Some(table) = tables.level2.get_mut(used) else {
            return Err(TooManyTables {
                needed: used + 1,
                available: N,
            });
        };
        used += 1;
        for (block, slot) in table.0.iter_mut().enumerate() {
            let address = base + block as u64 * BLOCK_SIZE;
            *slot = block_descriptor(address, kind_at(address));
        }
        *entry = (&raw const table.0) as u64 | DESC_TABLE;
    }
    Ok(())
}

/// Builds the early map (see [`EarlyMap`]). Boot CPU, MMU off, before [`enable`].
pub fn build_early_map(early: &EarlyMap) {
    // SAFETY: called once by the boot CPU before the MMU or any other core
    // uses the tables, so nothing else references them.
    let tables = unsafe { &mut *EARLY.0.get() };
    // Four gigabytes at most are split (the reserved area's, the console's
    // and the two the DTB window may straddle), which the pool holds: this
    // cannot fail.
    let _ = build(
        tables,
        |index| early.uniform_gib(index),
        |address| early.kind_at(address),
    );
    ROOT.store((&raw const tables.level1.0) as u64, Ordering::Release);
}

/// Builds the board map from `map` and switches this core to it; cores
/// started later enable it directly. Boot CPU only, before any other core
/// runs. On error the early map stays in use.
pub fn switch_to_board_map(map: &El2Map) -> Result<(), TooManyTables> {
    // SAFETY: the boot CPU alone writes the board tables, before any core
    // translates through them (the MMU uses the early map until the switch).
    let tables = unsafe { &mut *BOARD.0.get() };
    build(
        tables,
        |index| map.uniform_gib(index),
        |address| map.kind_at(address),
    )?;
    let root = (&raw const tables.level1.0) as u64;
    dsb_sy();
    // SAFETY: break-before-make for the whole map: the MMU is off while
    // TTBR0_EL2 changes and the TLB is emptied, so entries of the two maps
    // (which may map the same address with blocks of different sizes) never
    // meet. Between the two SCTLR writes nothing touches memory (VA == PA
    // everywhere, so instruction fetch continues).
    unsafe {
        core::arch::asm!(
            "mrs {saved}, sctlr_el2",
            "bic {off}, {saved}, #1",
            "msr sctlr_el2, {off}",
            "isb",
            "msr ttbr0_el2, {root}",
            "isb",
            "tlbi alle2",
            "dsb ish",
            "isb",
            "msr sctlr_el2, {saved}",
            "isb",
            saved = out(reg) _,
            off = out(reg) _,
            root = in(reg) root,
            options(nostack),
        )
    };
    ROOT.store(root, Ordering::Release);
    Ok(())
}

/// Turns on the EL2 MMU and caches with the current map. Every core calls it.
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
    TTBR0_EL2.set(ROOT.load(Ordering::Acquire));
    // SAFETY: invalidating EL2 TLB entries only discards cached translations.
    unsafe { core::arch::asm!("tlbi alle2", options(nostack)) };
    dsb_sy();
    isb();
    SCTLR_EL2.set(SCTLR_EL2.get() | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 12));
    isb();
}
