//! A fake configuration space for the tests: realistic devices with BAR sizing and RW1C Status.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::ops::Range;

use super::address::FunctionAddress;
use super::config_space::ConfigSpace;

/// Command bits the fake's devices implement.
const COMMAND_IMPLEMENTED: u32 = 0x0547 | (1 << 3) | (1 << 4) | (1 << 9);

/// One function's 4 KiB, with which bits take writes and how.
#[derive(Clone, Debug)]
pub(super) struct FakeFunction {
    dwords: Vec<u32>,
    /// Bits a plain write changes; the rest are read-only.
    writable: Vec<u32>,
    /// Address bits of each BAR dword (sizing answers their complement as 0).
    bar_masks: [u32; 6],
    /// (offset, ID) of capabilities in chain order, for building the chain.
    capabilities: Vec<(u16, u8)>,
}

impl FakeFunction {
    /// An endpoint with no BARs and no capabilities.
    pub(super) fn new(vendor: u16, device: u16, class_code: u32, revision: u8) -> FakeFunction {
        let mut function = FakeFunction {
            dwords: alloc::vec![0; 1024],
            writable: alloc::vec![0; 1024],
            bar_masks: [0; 6],
            capabilities: Vec::new(),
        };
        function.dwords[0] = u32::from(vendor) | (u32::from(device) << 16);
        function.dwords[2] = (class_code << 8) | u32::from(revision);
        // Cache line size and latency timer; Interrupt Line.
        function.writable[0x0C / 4] = 0xFFFF;
        function.writable[0x3C / 4] = 0xFF;
        // Device-specific space takes writes unless a capability says otherwise.
        for dword in 0x40 / 4..0x100 / 4 {
            function.writable[dword] = u32::MAX;
        }
        function
    }

    pub(super) fn header_type(mut self, header_type: u8) -> FakeFunction {
        self.dwords[0x0C / 4] |= u32::from(header_type) << 16;
        self
    }

    pub(super) fn interrupt(mut self, pin: u8, line: u8) -> FakeFunction {
        self.dwords[0x3C / 4] = (u32::from(pin) << 8) | u32::from(line);
        self
    }

    pub(super) fn subsystem(mut self, vendor: u16, device: u16) -> FakeFunction {
        self.dwords[0x2C / 4] = u32::from(vendor) | (u32::from(device) << 16);
        self
    }

    pub(super) fn command_status(mut self, command: u16, status: u16) -> FakeFunction {
        self.dwords[1] = u32::from(command) | (u32::from(status) << 16);
        self
    }

    pub(super) fn bar32(mut self, index: usize, size: u32, prefetchable: bool) -> FakeFunction {
        self.bar_masks[index] = !(size - 1) & !0xF;
        self.dwords[4 + index] = if prefetchable { 0x8 } else { 0 };
        self
    }

    pub(super) fn bar64(mut self, index: usize, size: u64, prefetchable: bool) -> FakeFunction {
        let mask = !(size - 1);
        self.bar_masks[index] = mask as u32 & !0xF;
        self.bar_masks[index + 1] = (mask >> 32) as u32;
        self.dwords[4 + index] = 0x4 | if prefetchable { 0x8 } else { 0 };
        self
    }

    pub(super) fn io_bar(mut self, index: usize, size: u32) -> FakeFunction {
        // A 16-bit decoder: the upper half reads 0.
        self.bar_masks[index] = !(size - 1) & 0xFFFC;
        self.dwords[4 + index] = 0x1;
        self
    }

    /// Appends a capability to the chain, `control` its upper half-word.
    /// MSI's and MSI-X's enables are writable, like the rest of their bodies.
    pub(super) fn capability(mut self, offset: u16, id: u8, control: u16) -> FakeFunction {
        let dword = usize::from(offset / 4);
        self.dwords[dword] = u32::from(id) | (u32::from(control) << 16);
        self.writable[dword] = match id {
            0x05 => 0x0071_0000,
            0x11 => 0xC000_0000,
            _ => 0,
        };
        if id == 0x11 {
            // Table and PBA offsets are read-only.
            self.writable[dword + 1] = 0;
            self.writable[dword + 2] = 0;
        }
        match self.capabilities.last() {
            Some(&(previous, _)) => {
                self.dwords[usize::from(previous / 4)] |= u32::from(offset) << 8
            }
            None => {
                self.dwords[0x34 / 4] = u32::from(offset);
                self.dwords[1] |= 0x10 << 16;
            }
        }
        self.capabilities.push((offset, id));
        self
    }

    /// Makes the last capability's next pointer `next` (cycles, stray pointers).
    pub(super) fn next_pointer(mut self, next: u8) -> FakeFunction {
        if let Some(&(last, _)) = self.capabilities.last() {
            let dword = &mut self.dwords[usize::from(last / 4)];
            *dword = (*dword & !0xFF00) | (u32::from(next) << 8);
        }
        self
    }

    /// Sets a raw dword (device-specific registers, capability bodies).
    pub(super) fn dword(mut self, offset: u16, value: u32) -> FakeFunction {
        self.dwords[usize::from(offset / 4)] = value;
        self
    }

    fn endpoint(&self) -> bool {
        (self.dwords[0x0C / 4] >> 16) & 0x7F == 0
    }

    fn write(&mut self, offset: u16, value: u32) {
        let dword = usize::from(offset / 4);
        let bar_slots = if self.endpoint() { 6 } else { 2 };
        match offset {
            0x04 => {
                let status = (self.dwords[1] >> 16) & !((value >> 16) & 0xF900);
                self.dwords[1] = (value & COMMAND_IMPLEMENTED) | (status << 16);
            }
            0x10..0x28 if dword - 4 < bar_slots => {
                let mask = self.bar_masks[dword - 4];
                self.dwords[dword] = (self.dwords[dword] & !mask) | (value & mask);
            }
            0x30 if self.endpoint() => {}
            _ => {
                let writable = self.writable[dword];
                self.dwords[dword] = (self.dwords[dword] & !writable) | (value & writable);
            }
        }
    }
}

/// A host bridge's configuration space: functions by address, and a log of every write.
#[derive(Clone, Debug, Default)]
pub(super) struct FakeConfig {
    functions: BTreeMap<FunctionAddress, FakeFunction>,
    pub(super) writes: Vec<(FunctionAddress, u16, u32)>,
}

impl FakeConfig {
    pub(super) fn insert(&mut self, address: &str, function: FakeFunction) {
        let address = FunctionAddress::parse(address).unwrap();
        self.functions.insert(address, function);
    }

    /// The physical dword at `offset` of the function at `address`.
    pub(super) fn dword(&self, address: &str, offset: u16) -> u32 {
        let address = FunctionAddress::parse(address).unwrap();
        self.functions[&address].dwords[usize::from(offset / 4)]
    }

    /// Sets a physical dword behind the model's back (device-side state changes).
    pub(super) fn set_dword(&mut self, address: &str, offset: u16, value: u32) {
        let address = FunctionAddress::parse(address).unwrap();
        self.functions.get_mut(&address).unwrap().dwords[usize::from(offset / 4)] = value;
    }

    /// Logged writes since entry `since` that hit `offsets` of the function at `address`.
    pub(super) fn writes_to(
        &self,
        since: usize,
        address: FunctionAddress,
        offsets: Range<u16>,
    ) -> usize {
        self.writes[since..]
            .iter()
            .filter(|&&(written, offset, _)| written == address && offsets.contains(&offset))
            .count()
    }
}

impl ConfigSpace for FakeConfig {
    fn read32(&mut self, function: FunctionAddress, offset: u16) -> u32 {
        assert!(
            offset.is_multiple_of(4) && offset < 0x1000,
            "bad read at {offset:#x}"
        );
        match self.functions.get(&function) {
            Some(fake) => fake.dwords[usize::from(offset / 4)],
            None => u32::MAX,
        }
    }

    fn write32(&mut self, function: FunctionAddress, offset: u16, value: u32) {
        assert!(
            offset.is_multiple_of(4) && offset < 0x1000,
            "bad write at {offset:#x}"
        );
        self.writes.push((function, offset, value));
        if let Some(fake) = self.functions.get_mut(&function) {
            fake.write(offset, value);
        }
    }
}
