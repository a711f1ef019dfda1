//! Register and shared-memory access as traits, so the logic above them runs against fakes.
#![forbid(unsafe_code)]

/// A block of little-endian registers (a BAR), accessed with aligned loads
/// and stores of the field's own width only.
pub trait Registers {
    /// The u32 at `offset` (4-byte aligned).
    fn read_u32(&self, offset: u64) -> u32;
    /// The u64 at `offset` (8-byte aligned).
    fn read_u64(&self, offset: u64) -> u64;
    /// Stores `value` at `offset` (4-byte aligned).
    fn write_u32(&self, offset: u64, value: u32);
}

/// Reads a NUL-padded label of `size` bytes (a multiple of 4) at `offset`.
pub fn read_label(registers: &impl Registers, offset: u64, size: u64) -> String {
    let mut bytes = Vec::new();
    for word in (0..size / 4).map(|index| registers.read_u32(offset + index * 4)) {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// Registers backed by a byte buffer: the host tests' stand-in for a BAR.
#[cfg(test)]
pub mod fake {
    use std::cell::RefCell;

    use super::Registers;

    /// A register block in a `Vec<u8>`; misaligned or out-of-range accesses panic,
    /// as they would fault (or be refused) on the real device.
    pub struct ByteRegisters {
        pub bytes: RefCell<Vec<u8>>,
        /// Every `(offset, value)` written with [`Registers::write_u32`], in order.
        pub writes: RefCell<Vec<(u64, u32)>>,
    }

    impl ByteRegisters {
        pub fn new(size: usize) -> ByteRegisters {
            ByteRegisters {
                bytes: RefCell::new(vec![0; size]),
                writes: RefCell::new(Vec::new()),
            }
        }

        pub fn set_u32(&self, offset: u64, value: u32) {
            self.put(offset, &value.to_le_bytes());
        }

        pub fn set_u64(&self, offset: u64, value: u64) {
            self.put(offset, &value.to_le_bytes());
        }

        pub fn set_bytes(&self, offset: u64, bytes: &[u8]) {
            self.put(offset, bytes);
        }

        fn put(&self, offset: u64, bytes: &[u8]) {
            let start = offset as usize;
            self.bytes.borrow_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        }

        fn get<const N: usize>(&self, offset: u64) -> [u8; N] {
            assert_eq!(
                offset % N as u64,
                0,
                "misaligned {N}-byte access at {offset:#x}"
            );
            let start = offset as usize;
            self.bytes.borrow()[start..start + N]
                .try_into()
                .expect("N bytes")
        }
    }

    impl Registers for ByteRegisters {
        fn read_u32(&self, offset: u64) -> u32 {
            u32::from_le_bytes(self.get(offset))
        }

        fn read_u64(&self, offset: u64) -> u64 {
            u64::from_le_bytes(self.get(offset))
        }

        fn write_u32(&self, offset: u64, value: u32) {
            assert_eq!(offset % 4, 0, "misaligned write at {offset:#x}");
            self.writes.borrow_mut().push((offset, value));
            self.set_u32(offset, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::ByteRegisters;
    use super::*;

    #[test]
    fn labels_stop_at_the_first_nul() {
        let registers = ByteRegisters::new(64);
        registers.set_bytes(0x20, b"results");
        assert_eq!(read_label(&registers, 0x20, 32), "results");
        registers.set_bytes(0x20, &[b'x'; 32]);
        assert_eq!(read_label(&registers, 0x20, 32), "x".repeat(32));
        assert_eq!(read_label(&registers, 0x00, 32), "");
    }
}
