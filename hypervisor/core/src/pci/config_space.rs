//! The physical configuration space seen through the host bridge, as a trait the hypervisor implements over ECAM.

use super::address::FunctionAddress;

/// Access to physical configuration space (the hypervisor implements it over
/// ECAM MMIO; the tests use a fake).
///
/// Offsets are within the function's 4 KiB, below 4096. Absent functions read
/// all-ones, as the host bridge answers them.
pub trait ConfigSpace {
    /// The dword at `offset` (4-aligned).
    fn read32(&mut self, function: FunctionAddress, offset: u16) -> u32;

    /// Writes the dword at `offset` (4-aligned).
    fn write32(&mut self, function: FunctionAddress, offset: u16, value: u32);

    /// Writes the half at `offset` (2-aligned).
    ///
    /// The default reads, merges and writes the whole dword, which writes the
    /// other half back as read and so clears any write-1-to-clear bits set in
    /// it (PCIe Device Status next to Device Control, for one). ECAM can issue
    /// narrow accesses: implementations over ECAM should override this.
    fn write16(&mut self, function: FunctionAddress, offset: u16, value: u16) {
        merge_write(self, function, offset, u32::from(value), 0xFFFF);
    }

    /// Writes the byte at `offset`; the default read-modify-writes like [`ConfigSpace::write16`].
    fn write8(&mut self, function: FunctionAddress, offset: u16, value: u8) {
        merge_write(self, function, offset, u32::from(value), 0xFF);
    }
}

/// Dword read-modify-write of the `mask` bits at byte `offset`.
fn merge_write<C: ConfigSpace + ?Sized>(
    config: &mut C,
    function: FunctionAddress,
    offset: u16,
    value: u32,
    mask: u32,
) {
    let dword = offset & !3;
    let shift = u32::from(offset & 3) * 8;
    let old = config.read32(function, dword);
    let mask = mask << shift;
    config.write32(function, dword, (old & !mask) | ((value << shift) & mask));
}
