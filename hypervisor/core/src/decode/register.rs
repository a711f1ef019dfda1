//! General-purpose register numbers as syndromes name them, with 31 as the zero register.

/// Number of general-purpose registers a trapped guest frame saves (x0..x30).
pub const SAVED_REGISTERS: usize = 31;

/// A general-purpose register named by a 5-bit syndrome field (SRT, Rt).
///
/// Number 31 is xzr in every encoding Bulkhead decodes: it reads as zero and
/// ignores writes. The field is private so every value is 0..=31 and
/// [`GeneralRegister::index`] can never point outside a saved frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GeneralRegister(u8);

impl GeneralRegister {
    /// xzr (number 31).
    pub const ZERO: GeneralRegister = GeneralRegister(31);

    /// The register in the low five bits of `field` (higher bits are ignored).
    pub const fn from_field(field: u64) -> GeneralRegister {
        GeneralRegister((field & 0x1f) as u8)
    }

    /// The register number, 0..=31 (31 is xzr).
    pub const fn number(self) -> u8 {
        self.0
    }

    /// Index into a saved frame's x0..x30, or None for xzr.
    pub const fn index(self) -> Option<usize> {
        if self.0 == 31 {
            None
        } else {
            Some(self.0 as usize)
        }
    }

    /// The value the guest sees in this register: the saved one, or 0 for xzr.
    pub const fn read(self, registers: &[u64; SAVED_REGISTERS]) -> u64 {
        match self.index() {
            Some(index) => registers[index],
            None => 0,
        }
    }

    /// Sets this register in a saved frame; a write to xzr is discarded.
    pub fn write(self, registers: &mut [u64; SAVED_REGISTERS], value: u64) {
        if let Some(index) = self.index() {
            registers[index] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_keeps_only_five_bits() {
        assert_eq!(GeneralRegister::from_field(0).number(), 0);
        assert_eq!(GeneralRegister::from_field(30).number(), 30);
        assert_eq!(GeneralRegister::from_field(31), GeneralRegister::ZERO);
        assert_eq!(GeneralRegister::from_field(32 + 5).number(), 5);
        assert_eq!(GeneralRegister::from_field(u64::MAX), GeneralRegister::ZERO);
    }

    #[test]
    fn zero_register_has_no_index() {
        assert_eq!(GeneralRegister::ZERO.index(), None);
        for number in 0..31 {
            assert_eq!(
                GeneralRegister::from_field(number).index(),
                Some(number as usize)
            );
        }
    }

    #[test]
    fn reads_and_writes_a_frame_with_xzr_as_zero() {
        let mut registers = [0u64; SAVED_REGISTERS];
        for (index, register) in registers.iter_mut().enumerate() {
            *register = 0x100 + index as u64;
        }
        assert_eq!(GeneralRegister::from_field(0).read(&registers), 0x100);
        assert_eq!(GeneralRegister::from_field(30).read(&registers), 0x100 + 30);
        assert_eq!(GeneralRegister::ZERO.read(&registers), 0);

        let before = registers;
        GeneralRegister::ZERO.write(&mut registers, 0xdead);
        assert_eq!(registers, before);
        GeneralRegister::from_field(7).write(&mut registers, 0xdead);
        assert_eq!(registers[7], 0xdead);
        assert_eq!(GeneralRegister::from_field(7).read(&registers), 0xdead);
    }
}
