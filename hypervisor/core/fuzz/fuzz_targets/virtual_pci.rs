//! Fuzz target: a hostile guest's accesses to its virtual PCI bus never panic and never reach what Bulkhead keeps.
//!
//! The input is a sequence of steps (12 bytes each: ECAM or register
//! offset, width and kind, value) against a virtual bus holding one edu-like
//! assigned function, whose physical config space is a fake with BAR
//! sizing, and two emulated functions: an ivshmem endpoint and the control
//! function. A step is a config read or write, a read or write of either
//! emulated function's BAR0, a peer ringing the endpoint, or a partition
//! reset. After every step the physical BAR0, the ROM BAR, Interrupt Line
//! and the MSI capability must be as Bulkhead left them, I/O decode must be
//! off, the emulated BARs must read their address or their size mask, and
//! each emulated INTx must have been reported raised exactly when it rose
//! and be asserted exactly while pending and not disabled.
#![no_main]

use std::sync::Arc;

use bulkhead_core::address::Ipa;
use bulkhead_core::pci::emulated::{
    BarWindow, CommandResult, ControlBackend, ControlCommand, ControlRegisters, EmulatedFunction,
    IntxLine, IvshmemEndpoint, IvshmemRegisters, Label, PartitionEntry,
};
use bulkhead_core::pci::{
    Bar, BarKind, ConfigSpace, Function, FunctionAddress, Raise, VirtualBus, VirtualFunction,
};
use bulkhead_core::vgic::Width;
use libfuzzer_sys::fuzz_target;

const BAR0: u64 = 0x1000_0000;
const BAR0_SIZE: u32 = 0x10_0000;
/// Where the fake's MSI capability sits (the only capability).
const MSI: usize = 0x40;
/// Devices of the emulated functions (as `config::virtual_pci` puts channel 0 and control).
const IVSHMEM_DEVICE: u8 = 30;
const CONTROL_DEVICE: u8 = 31;
const IVSHMEM_REGISTERS: u64 = 0x3f10_0000;
const CONTROL_REGISTERS: u64 = 0x3f11_0000;
const CHANNEL_MEMORY: u64 = 0x4020_0000;
const CHANNEL_SIZE: u64 = 0x20_0000;
/// Endpoints of the fuzzed channel, and the fuzzed endpoint's index.
const ENDPOINTS: u32 = 3;
const POSITION: u32 = 1;

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
        u32::from_le_bytes(
            self.bytes[offset..offset + 4]
                .try_into()
                .unwrap_or_default(),
        )
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
                    self.bytes[0x10..0x14]
                        .copy_from_slice(&(value & !(BAR0_SIZE - 1)).to_le_bytes());
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

/// A hypervisor stand-in for the control function: two partitions, commands that succeed.
struct Backend {
    commands: u64,
}

impl ControlBackend for Backend {
    fn partition_count(&self) -> usize {
        2
    }

    fn entry(&self, index: usize) -> Option<PartitionEntry> {
        (index < 2).then(|| PartitionEntry {
            id: index as u32,
            memory: 0x1000_0000,
            label: Label::new("fuzzed"),
            ..PartitionEntry::default()
        })
    }

    fn own_id(&self) -> u32 {
        0
    }

    fn command(&mut self, _command: ControlCommand, _target: u32) -> CommandResult {
        self.commands += 1;
        CommandResult {
            result: 0,
            value: self.commands,
        }
    }
}

/// Everything one run acts on.
struct Machine {
    fake: Fake,
    bus: VirtualBus,
    ivshmem: IvshmemRegisters,
    control: ControlRegisters,
    backend: Backend,
}

impl Machine {
    fn new() -> Machine {
        let mut fake = Fake::new();
        let function = VirtualFunction::new(&edu(), &mut fake);
        let mut bus = VirtualBus::new(vec![function]);
        let window = |address, size| BarWindow {
            address: Ipa(address),
            size,
        };
        let ivshmem_line = Arc::new(IntxLine::new());
        let endpoint = EmulatedFunction::ivshmem(
            window(IVSHMEM_REGISTERS, 256),
            window(CHANNEL_MEMORY, CHANNEL_SIZE),
            ivshmem_line.clone(),
        )
        .expect("valid ivshmem BARs");
        let control_line = Arc::new(IntxLine::new());
        let control =
            EmulatedFunction::control(window(CONTROL_REGISTERS, 4096), control_line.clone())
                .expect("valid control BAR");
        bus.add_emulated(IVSHMEM_DEVICE, endpoint)
            .expect("free slot");
        bus.add_emulated(CONTROL_DEVICE, control)
            .expect("free slot");
        Machine {
            fake,
            bus,
            ivshmem: IvshmemRegisters::new(
                IvshmemEndpoint {
                    position: POSITION,
                    channel_id: 7,
                    endpoints: ENDPOINTS,
                    read_only: false,
                    label: Label::new("fuzz"),
                },
                ivshmem_line,
            ),
            control: ControlRegisters::new(0x0001_0000, control_line),
            backend: Backend { commands: 0 },
        }
    }

    /// Runs one step; returns the devices whose INTx was reported raised.
    fn step(&mut self, kind: u8, offset: u64, width: Width, value: u64) -> Vec<u8> {
        let write = kind & 4 != 0;
        let register = offset & 0x1FFF;
        let mut raised = Vec::new();
        match kind >> 3 & 7 {
            1 if write => {
                let effects = self.ivshmem.write(register, width, value);
                if let Some(ring) = effects.ring {
                    assert!(
                        ring.peer.is_none_or(
                            |peer| peer < ENDPOINTS as usize && peer != POSITION as usize
                        ),
                        "a ring for no other endpoint"
                    );
                }
                if effects.raise {
                    raised.push(IVSHMEM_DEVICE);
                }
            }
            1 => {
                let _ = self.ivshmem.read(register, width);
            }
            2 if write => {
                if self
                    .control
                    .write(&mut self.backend, register, width, value)
                    .raise
                {
                    raised.push(CONTROL_DEVICE);
                }
            }
            2 => {
                let _ = self.control.read(&self.backend, register, width);
            }
            3 => {
                if self.ivshmem.ring() {
                    raised.push(IVSHMEM_DEVICE);
                }
            }
            4 => {
                self.bus.reset_emulated();
                self.control.reset();
            }
            _ if write => {
                if let Some(Raise { device }) = self.bus.write(&mut self.fake, offset, width, value)
                {
                    raised.push(device);
                }
            }
            _ => {
                let _ = self.bus.read(&mut self.fake, offset, width);
            }
        }
        raised
    }

    /// Config dword `register` of function 0 of `device`, as the guest reads it.
    fn config(&mut self, device: u8, register: u64) -> u64 {
        let function = FunctionAddress {
            bus: 0,
            device,
            function: 0,
        };
        self.bus.read(
            &mut self.fake,
            function.ecam_offset() + register,
            Width::Word,
        )
    }
}

fuzz_target!(|input: &[u8]| {
    let mut machine = Machine::new();
    let msi_before: Vec<u8> = machine.fake.bytes[MSI..MSI + 16].to_vec();
    for access in input.chunks_exact(12) {
        let offset = u64::from(u32::from_le_bytes([access[0], access[1], access[2], 0]));
        let width = match access[3] & 3 {
            0 => Width::Byte,
            1 => Width::Half,
            2 => Width::Word,
            _ => Width::Double,
        };
        let value = u64::from_le_bytes(access[4..12].try_into().unwrap_or_default());
        let lines = [
            (IVSHMEM_DEVICE, machine.ivshmem.line().clone()),
            (CONTROL_DEVICE, machine.control.line().clone()),
        ];
        let before: Vec<bool> = lines.iter().map(|(_, line)| line.asserted()).collect();
        let raised = machine.step(access[3], offset, width, value);

        let fake = &mut machine.fake;
        fake.bar0_probe = false;
        assert_eq!(u64::from(fake.dword(0x10)), BAR0, "the guest moved BAR0");
        assert_eq!(fake.dword(0x30), 0, "the guest set the ROM BAR");
        assert_eq!(fake.bytes[0x3c], 0, "the guest wrote Interrupt Line");
        assert_eq!(
            &fake.bytes[MSI..MSI + 16],
            &msi_before[..],
            "the guest wrote MSI"
        );
        assert_eq!(fake.dword(0x04) & 1, 0, "the guest enabled I/O decode");

        for ((device, line), was) in lines.iter().zip(before) {
            let rose = !was && line.asserted();
            assert_eq!(
                raised.contains(device),
                rose,
                "device {device}: raise is not the rising edge"
            );
            let command = machine.config(*device, 0x04);
            assert_eq!(line.asserted(), line.pending() && command & 0x400 == 0);
            assert_eq!(command >> 19 & 1 == 1, line.pending(), "Status bit 3");
        }
        let bar0 = machine.config(IVSHMEM_DEVICE, 0x10);
        assert!(
            bar0 == IVSHMEM_REGISTERS || bar0 == 0xFFFF_FF00,
            "ivshmem BAR0 {bar0:#x}"
        );
        let bar2 = machine.config(IVSHMEM_DEVICE, 0x18);
        assert!(
            bar2 == CHANNEL_MEMORY | 0xC || bar2 == (!(CHANNEL_SIZE - 1) as u32 | 0xC) as u64,
            "ivshmem BAR2 {bar2:#x}"
        );
        assert_eq!(machine.config(CONTROL_DEVICE, 0x00), 0x11bd_1af4);
    }
});
