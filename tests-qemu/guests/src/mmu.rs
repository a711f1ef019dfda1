//! Stage-1 identity map for EL1: 4 KiB granule, 4 GiB of VA, 1 GiB level-1 blocks.
//!
//! [0, 1 GiB) is Device-nGnRE (MMIO), [1 GiB, 4 GiB) Normal write-back. The
//! table is a constant in the image, so every vCPU can switch the MMU on in its
//! entry assembly before running Rust (with the MMU off all data accesses are
//! Device accesses, where atomics and unaligned accesses fault).

/// End of the Device-memory part of the identity map.
pub const DEVICE_WINDOW_END: u64 = 1 << 30;

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

/// Level-1 block descriptor: valid block, AttrIndx, AF, inner shareable.
const fn block(address: u64, attribute_index: u64) -> u64 {
    const VALID_BLOCK: u64 = 0b01;
    const ACCESS_FLAG: u64 = 1 << 10;
    const INNER_SHAREABLE: u64 = 3 << 8;
    address | VALID_BLOCK | (attribute_index << 2) | ACCESS_FLAG | INNER_SHAREABLE
}

/// Execute-never at EL1 and EL0 (PXN, UXN): never fetch from device space.
const EXECUTE_NEVER: u64 = (1 << 53) | (1 << 54);

/// A 4 KiB-aligned translation table.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

const fn identity_table() -> [u64; 512] {
    let mut entries = [0u64; 512];
    entries[0] = block(0, 0) | EXECUTE_NEVER;
    let mut gib = 1;
    while gib < 4 {
        entries[gib] = block((gib as u64) << 30, 1);
        gib += 1;
    }
    entries
}

/// The level-1 table TTBR0_EL1 points at.
pub static IDENTITY_MAP: Table = Table(identity_table());
