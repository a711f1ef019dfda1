//! The distributor registers whose value is fixed once a partition is built (its type and identification), answered without the model's lock.
//!
//! GICD_TYPER depends only on the board's GIC, the partition's vCPU count
//! and whether it has virtual SPIs; GICD_IIDR and the ID registers only on
//! the board. Their values are captured once, from the model's own answers
//! (so the model stays the one definition), and a trapped read of one is
//! served from here: no lock on the partition's model, no access to the
//! physical distributor, nothing another partition can make it wait for.

use super::physical::Width;

/// GICD_TYPER and GICD_IIDR (both GIC versions).
const TYPE_AND_IMPLEMENTER: [u64; 2] = [0x004, 0x008];
/// PIDR4..7, PIDR0..3, CIDR0..3: at the end of the 4 KiB GICv2
/// distributor, and of the 64 KiB GICv3 one.
const ID_GICV2: core::ops::Range<u64> = 0xFD0..0x1000;
const ID_GICV3: core::ops::Range<u64> = 0xFFD0..0x1_0000;
const ID_COUNT: usize = 12;
const COUNT: usize = TYPE_AND_IMPLEMENTER.len() + 2 * ID_COUNT;

/// The fixed registers' values, by [`index`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedRegisters {
    values: [u32; COUNT],
}

/// Every fixed register's offset.
pub fn fixed_offsets() -> impl Iterator<Item = u64> {
    TYPE_AND_IMPLEMENTER
        .into_iter()
        .chain(ID_GICV2.step_by(4))
        .chain(ID_GICV3.step_by(4))
}

/// Where a 32-bit read of `offset` is kept, if the register is fixed.
fn index(offset: u64) -> Option<usize> {
    match offset {
        0x004 => Some(0),
        0x008 => Some(1),
        _ if !offset.is_multiple_of(4) => None,
        0xFD0..0x1000 => {
            Some(TYPE_AND_IMPLEMENTER.len() + ((offset - ID_GICV2.start) / 4) as usize)
        }
        0xFFD0..0x1_0000 => {
            Some(TYPE_AND_IMPLEMENTER.len() + ID_COUNT + ((offset - ID_GICV3.start) / 4) as usize)
        }
        _ => None,
    }
}

impl FixedRegisters {
    /// Captures each fixed register's value through `read` (a 32-bit read
    /// of the partition's model at that offset, at boot).
    pub fn capture(mut read: impl FnMut(u64) -> u64) -> FixedRegisters {
        let mut values = [0; COUNT];
        for (offset, value) in fixed_offsets().zip(values.iter_mut()) {
            *value = read(offset) as u32;
        }
        FixedRegisters { values }
    }

    /// The value of a guest read of `width` at `offset`, if it is a 32-bit
    /// read of a fixed register; None for anything else (the model answers).
    #[inline(always)]
    pub fn read(&self, offset: u64, width: Width) -> Option<u64> {
        if width != Width::Word {
            return None;
        }
        index(offset)
            .and_then(|index| self.values.get(index))
            .map(|&value| u64::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_values_come_back_for_word_reads_only() {
        let fixed = FixedRegisters::capture(|offset| offset * 3 + 1);
        for offset in fixed_offsets() {
            assert_eq!(fixed.read(offset, Width::Word), Some(offset * 3 + 1));
            assert_eq!(fixed.read(offset, Width::Byte), None);
            assert_eq!(fixed.read(offset, Width::Double), None);
        }
        assert_eq!(fixed_offsets().count(), COUNT);
    }

    #[test]
    fn state_registers_are_not_fixed() {
        let fixed = FixedRegisters::capture(|_| 7);
        // CTLR, the enables, priorities, routing, unaligned ID offsets, beyond the frame.
        for offset in [
            0x000, 0x00C, 0x100, 0x400, 0x6100, 0xFD2, 0x1000, 0xFFCC, 0x1_0000,
        ] {
            assert_eq!(fixed.read(offset, Width::Word), None, "{offset:#x}");
        }
    }
}
