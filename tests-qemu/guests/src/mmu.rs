//! Stage-1 identity map for EL1: 4 KiB granule, 4 GiB of VA, 1 GiB level-1 blocks and one 2 MiB level-2 table.
//!
//! [0, 1 GiB) is Device-nGnRE (MMIO: QEMU virt's devices and GIC),
//! [1 GiB, 4 GiB) Normal write-back except its top 64 MiB,
//! [`TOP_DEVICE_WINDOW`], which is Device again: the Raspberry Pi 4's
//! peripherals and GIC-400 sit there (BCM2711 low-peripheral mode), and no
//! test layout gives a bare-metal guest RAM or channel memory there. The
//! tables are constants in the image, so every vCPU can switch the MMU on in
//! its entry assembly before running Rust (with the MMU off all data
//! accesses are Device accesses, where atomics and unaligned accesses fault).

use core::ops::Range;

/// End of the low Device-memory part of the identity map.
pub const DEVICE_WINDOW_END: u64 = 1 << 30;
/// The top Device-memory part: the BCM2711's peripherals (`0xFC00_0000`..)
/// and its ARM-local block with the GIC-400 (`0xFF80_0000`..).
pub const TOP_DEVICE_WINDOW: Range<u64> = 0xFC00_0000..0x1_0000_0000;

/// Whether `address` lies in a Device part of the identity map: where a
/// device this guest drives may be (a DT address elsewhere is not trusted).
pub fn is_device(address: u64) -> bool {
    address < DEVICE_WINDOW_END || TOP_DEVICE_WINDOW.contains(&address)
}

/// MAIR_EL1: attribute 0 = Device-nGnRE, attribute 1 = Normal, inner and
/// outer write-back read/write-allocate.
pub const MAIR: u64 = 0x04 | (0xff << 8);

/// TCR_EL1: T0SZ = 32 (4 GiB), table walks inner/outer write-back
/// write-allocate cacheable and inner shareable, 4 KiB granule, TTBR1 walks
/// disabled (EPD1), 32-bit intermediate physical addresses (IPS = 0).
pub const TCR: u64 = 32 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23);

/// SCTLR_EL1: the ARMv8.0 RES1 bits (11, 20, 22, 23, 28, 29) plus M (MMU),
/// C (data cache) and I (instruction cache); alignment checks stay off.
pub const SCTLR: u64 = (1 << 11)
    | (1 << 20)
    | (1 << 22)
    | (1 << 23)
    | (1 << 28)
    | (1 << 29)
    | (1 << 0)
    | (1 << 2)
    | (1 << 12);

/// CPACR_EL1.FPEN = 0b11: FP/SIMD untrapped (Rust code uses NEON registers).
pub const CPACR: u64 = 3 << 20;

/// Level-1 or level-2 block descriptor: valid block, AttrIndx, AF, inner shareable.
const fn block(address: u64, attribute_index: u64) -> u64 {
    const VALID_BLOCK: u64 = 0b01;
    const ACCESS_FLAG: u64 = 1 << 10;
    const INNER_SHAREABLE: u64 = 3 << 8;
    address | VALID_BLOCK | (attribute_index << 2) | ACCESS_FLAG | INNER_SHAREABLE
}

/// Execute-never at EL1 and EL0 (PXN, UXN): never fetch from device space.
const EXECUTE_NEVER: u64 = (1 << 53) | (1 << 54);
/// Table descriptor type bits (valid, table).
const TABLE_DESCRIPTOR: usize = 0b11;
/// MAIR attribute indices.
const DEVICE: u64 = 0;
const NORMAL: u64 = 1;
/// Bytes one level-2 block maps.
const LEVEL2_BLOCK: u64 = 2 << 20;
/// The gigabyte the level-2 table maps.
const TOP_GIB: u64 = 3 << 30;

/// A 4 KiB-aligned translation table of block descriptors.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

/// The level-1 table: block descriptors and one table descriptor, which
/// holds the level-2 table's address (a link-time relocation, hence
/// pointers rather than integers).
#[repr(C, align(4096))]
pub struct RootTable([*const u8; 512]);

// SAFETY: the table is immutable and only read by the MMU's table walks;
// its raw pointers are descriptors, never dereferenced by code.
unsafe impl Sync for RootTable {}

const fn top_gib_table() -> [u64; 512] {
    let mut entries = [0u64; 512];
    let mut index = 0;
    while index < 512 {
        let address = TOP_GIB + index as u64 * LEVEL2_BLOCK;
        entries[index] = if address >= TOP_DEVICE_WINDOW.start {
            block(address, DEVICE) | EXECUTE_NEVER
        } else {
            block(address, NORMAL)
        };
        index += 1;
    }
    entries
}

const fn identity_table(top_gib: *const Table) -> [*const u8; 512] {
    let mut entries = [core::ptr::null::<u8>(); 512];
    entries[0] = core::ptr::without_provenance(block(0, DEVICE) as usize | EXECUTE_NEVER as usize);
    entries[1] = core::ptr::without_provenance(block(1 << 30, NORMAL) as usize);
    entries[2] = core::ptr::without_provenance(block(2 << 30, NORMAL) as usize);
    entries[3] = top_gib.cast::<u8>().wrapping_add(TABLE_DESCRIPTOR);
    entries
}

/// The level-2 table of [3 GiB, 4 GiB).
pub static TOP_GIB_MAP: Table = Table(top_gib_table());

/// The level-1 table TTBR0_EL1 points at.
pub static IDENTITY_MAP: RootTable = RootTable(identity_table(&TOP_GIB_MAP));
