//! Guest config accesses of any width, split into dword reads and byte-enabled dword writes.
//!
//! Physical and emulated functions answer the same rules: an access must be
//! naturally aligned and inside the function's 4 KiB, or it reads all-ones
//! and is ignored; a 64-bit access is two dwords; a narrower one is its
//! dword with byte enables.

use super::registers::CONFIG_SIZE;
use crate::vgic::Width;

/// Naturally aligned and inside the 4 KiB (alignment keeps it from straddling the end).
pub(super) fn accepted(offset: u16, width: Width) -> bool {
    offset < CONFIG_SIZE && offset.is_multiple_of(width.bytes() as u16)
}

/// All bits an access of `width` carries: what an unanswered read returns.
pub(super) fn width_mask(width: Width) -> u64 {
    match width {
        Width::Byte => 0xFF,
        Width::Half => 0xFFFF,
        Width::Word => 0xFFFF_FFFF,
        Width::Double => u64::MAX,
    }
}

/// A byte-enable nibble expanded to a bit mask over the dword.
pub(super) fn byte_mask(enables: u8) -> u32 {
    (0..4)
        .filter(|byte| enables & (1 << byte) != 0)
        .fold(0, |mask, byte| mask | (0xFF << (8 * byte)))
}

/// A read of `width` at `offset` built from `read_dword` (called with
/// 4-aligned offsets below 4 KiB); all-ones if the access is not accepted.
pub(super) fn read(offset: u16, width: Width, mut read_dword: impl FnMut(u16) -> u32) -> u64 {
    if !accepted(offset, width) {
        return width_mask(width);
    }
    match width {
        Width::Double => {
            let low = read_dword(offset);
            let high = read_dword(offset + 4);
            u64::from(low) | (u64::from(high) << 32)
        }
        _ => {
            let dword = read_dword(offset & !3);
            (u64::from(dword) >> byte_shift(offset)) & width_mask(width)
        }
    }
}

/// A write of the low `width` bytes of `value` at `offset`, as calls to
/// `write_dword(offset, value shifted into place, byte enables)`; nothing
/// if the access is not accepted.
pub(super) fn write(
    offset: u16,
    width: Width,
    value: u64,
    mut write_dword: impl FnMut(u16, u32, u8),
) {
    if !accepted(offset, width) {
        return;
    }
    match width {
        Width::Double => {
            write_dword(offset, value as u32, 0b1111);
            write_dword(offset + 4, (value >> 32) as u32, 0b1111);
        }
        _ => {
            let value = ((value & width_mask(width)) << byte_shift(offset)) as u32;
            let enables = (((1u16 << width.bytes()) - 1) << (offset & 3)) as u8;
            write_dword(offset & !3, value, enables);
        }
    }
}

/// Bits of a position within a dword.
fn byte_shift(offset: u16) -> u32 {
    u32::from(offset & 3) * 8
}
