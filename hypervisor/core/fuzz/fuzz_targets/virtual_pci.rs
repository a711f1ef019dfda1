//! Fuzz target: a hostile guest's accesses to its virtual PCI bus never panic and never reach what Bulkhead keeps.
//!
//! The input is a sequence of guest accesses (read or write, ECAM offset,
//! width, value) to a virtual bus holding one edu-like function whose
//! physical config space is a fake with BAR sizing. After every access the
//! physical BAR0, the ROM BAR, Interrupt Line and the MSI capability must
//! be as Bulkhead left them, and I/O decode must be off.
#![no_main]

use bulkhead_core::pci::{
    Bar, BarKind, ConfigSpace, Function, FunctionAddress, VirtualBus, VirtualFunction,
};
use bulkhead_core::vgic::Width;
use libfuzzer_sys::fuzz_target;

const BAR0: u64 = 0x1000_0000;
const BAR0_SIZE: u32 = 0x10_0000;
/// Where the fake's MSI capability sits (the only capability).
const MSI: usize = 0x40;

/// One function's physical config space: plain bytes, with BAR0's sizing
/// behaviour, a read-only header and a read-only MSI capability.
struct Fake {
    bytes: [u8; 4096],
    bar0_probe: bool,
}

impl Fake {
    fn new() -> Fake {
        let mut bytes = [0u8; 4096];
        let mut put = |offset: usize, value: u32| {
            bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes())
        };
        put(0x00, 0x11e8_1234);
        put(0x04, 0x0010_0000); // Status: capability list
        put(0x08, 0x00ff_0010);
        put(0x10, BAR0 as u32);
        put(0x34, MSI as u32);
        put(0x3c, 0x0000_0100); // pin A
        put(MSI, 0x0080_0005); // MSI, next 0, 64-bit
        Fake {
            bytes,
            bar0_probe: false,
        }
    }

    fn dword(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.bytes[offset..offset + 4].try_into().unwrap_or_default())
    }
}

impl ConfigSpace for Fake {
    fn read32(&mut self, _function: FunctionAddress, offset: u16) -> u32 {
        let offset = usize::from(offset & 0xffc);
        if offset == 0x10 && self.bar0_probe {
            return !(BAR0_SIZE - 1);
        }
        self.dword(offset)
    }

    fn write32(&mut self, _function: FunctionAddress, offset: u16, value: u32) {
        let offset = usize::from(offset & 0xffc);
        match offset {
            0x10 => {
                self.bar0_probe = value == u32::MAX;
                if !self.bar0_probe {
                    self.bytes[0x10..0x14].copy_from_slice(&(value & !(BAR0_SIZE - 1)).to_le_bytes());
                }
            }
            0x04 => self.bytes[0x04..0x06].copy_from_slice(&(value as u16).to_le_bytes()),
            // Read-only in the fake: IDs, class, capability pointer.
            0x00 | 0x08 | 0x34 => {}
            _ => self.bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes()),
        }
    }
}

fn edu() -> Function {
    Function {
        address: FunctionAddress {
            bus: 0,
            device: 2,
            function: 0,
        },
        vendor_id: 0x1234,
        device_id: 0x11e8,
        class_code: 0x00ff00,
        header_type: 0,
        interrupt_pin: 1,
        bars: vec![Bar {
            index: 0,
            kind: BarKind::Memory32,
            prefetchable: false,
            size: u64::from(BAR0_SIZE),
            address: BAR0,
        }],
    }
}

fuzz_target!(|input: &[u8]| {
    let mut fake = Fake::new();
    let function = VirtualFunction::new(&edu(), &mut fake);
    let mut bus = VirtualBus::new(vec![function]);
    let msi_before: Vec<u8> = fake.bytes[MSI..MSI + 16].to_vec();
    for access in input.chunks_exact(12) {
        let offset = u64::from(u32::from_le_bytes([access[0], access[1], access[2], 0]));
        let width = match access[3] & 3 {
            0 => Width::Byte,
            1 => Width::Half,
            2 => Width::Word,
            _ => Width::Double,
        };
        let value = u64::from_le_bytes(access[4..12].try_into().unwrap_or_default());
        if access[3] & 4 == 0 {
            let _ = bus.read(&mut fake, offset, width);
        } else {
            bus.write(&mut fake, offset, width, value);
        }
        fake.bar0_probe = false;
        assert_eq!(u64::from(fake.dword(0x10)), BAR0, "the guest moved BAR0");
        assert_eq!(fake.dword(0x30), 0, "the guest set the ROM BAR");
        assert_eq!(fake.bytes[0x3c], 0, "the guest wrote Interrupt Line");
        assert_eq!(&fake.bytes[MSI..MSI + 16], &msi_before[..], "the guest wrote MSI");
        assert_eq!(fake.dword(0x04) & 1, 0, "the guest enabled I/O decode");
    }
});
