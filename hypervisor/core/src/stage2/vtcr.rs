//! VTCR_EL2: the stage-2 translation control value matching the tables [`super::Stage2`] builds.

/// Width of the guest's IPA space: 512 GiB, one full level-1 table as the root.
pub const IPA_BITS: u32 = 39;

/// T0SZ = 64 - IPA_BITS.
const T0SZ: u64 = 64 - IPA_BITS as u64;
/// SL0 = 0b01: with a 4 KiB granule the walk starts at level 1.
const SL0_LEVEL1: u64 = 0b01 << 6;
/// IRGN0 = 0b01: table walks are Normal, inner write-back write-allocate.
const IRGN0_WBWA: u64 = 0b01 << 8;
/// ORGN0 = 0b01: outer write-back write-allocate.
const ORGN0_WBWA: u64 = 0b01 << 10;
/// SH0 = 0b11: table walks are inner shareable.
const SH0_INNER: u64 = 0b11 << 12;
/// TG0 = 0b00: 4 KiB granule.
const TG0_4K: u64 = 0b00 << 14;
const PS_SHIFT: u32 = 16;
/// PARange/PS encoding of 48 bits: descriptors hold output addresses in bits [47:12] only.
const PS_48_BITS: u64 = 0b101;
/// Bit 31 is RES1.
const RES1: u64 = 1 << 31;

/// The VTCR_EL2 value for Bulkhead's stage-2 tables.
///
/// `pa_range_field` is ID_AA64MMFR0_EL1.PARange (bits [3:0]); the output size
/// is capped at 48 bits because the descriptors this module writes cannot
/// express more.
pub fn vtcr_el2(pa_range_field: u64) -> u64 {
    let ps = (pa_range_field & 0b1111).min(PS_48_BITS);
    T0SZ | SL0_LEVEL1 | IRGN0_WBWA | ORGN0_WBWA | SH0_INNER | TG0_4K | (ps << PS_SHIFT) | RES1
}
