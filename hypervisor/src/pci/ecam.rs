//! The host bridge's ECAM: physical PCI configuration space as memory-mapped registers.

use bulkhead_core::address::PhysRange;
use bulkhead_core::pci::{ConfigSpace, FunctionAddress};

/// Configuration space of the buses from `first_bus` on, 1 MiB each.
#[derive(Clone, Copy, Debug)]
pub struct Ecam {
    base: u64,
    size: u64,
    first_bus: u8,
}

impl Ecam {
    pub fn new(range: PhysRange, first_bus: u8) -> Ecam {
        Ecam {
            base: range.start.0,
            size: range.size,
            first_bus,
        }
    }

    /// No configuration space at all: every function reads absent (a
    /// virtual bus with only emulated functions).
    pub const fn absent() -> Ecam {
        Ecam {
            base: 0,
            size: 0,
            first_bus: 0,
        }
    }

    /// The register's address, if it lies inside the ECAM (else nothing is
    /// touched); `offset` is aligned down to `align` bytes.
    fn address(&self, function: FunctionAddress, offset: u16, align: u16) -> Option<u64> {
        let bus = function.bus.checked_sub(self.first_bus)?;
        let offset = offset & 0xfff & !(align - 1);
        let relative = FunctionAddress { bus, ..function }.ecam_offset() + u64::from(offset);
        (relative < self.size).then_some(self.base + relative)
    }
}

impl ConfigSpace for Ecam {
    fn read32(&mut self, function: FunctionAddress, offset: u16) -> u32 {
        match self.address(function, offset, 4) {
            // SAFETY: inside the ECAM the board DT names, which the EL2
            // identity map covers as device memory; aligned to 4 bytes.
            Some(address) => unsafe { core::ptr::read_volatile(address as *const u32) },
            None => u32::MAX,
        }
    }

    fn write32(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        if let Some(address) = self.address(function, offset, 4) {
            // SAFETY: as in `read32`.
            unsafe { core::ptr::write_volatile(address as *mut u32, value) }
        }
    }

    // Narrow writes are real narrow accesses: a read-modify-write of the
    // whole dword would write back (and so clear) its neighbours' RW1C bits.
    fn write16(&mut self, function: FunctionAddress, offset: u16, value: u16) {
        if let Some(address) = self.address(function, offset, 2) {
            // SAFETY: as in `read32`, 2-byte aligned.
            unsafe { core::ptr::write_volatile(address as *mut u16, value) }
        }
    }

    fn write8(&mut self, function: FunctionAddress, offset: u16, value: u8) {
        if let Some(address) = self.address(function, offset, 1) {
            // SAFETY: as in `read32`.
            unsafe { core::ptr::write_volatile(address as *mut u8, value) }
        }
    }
}
