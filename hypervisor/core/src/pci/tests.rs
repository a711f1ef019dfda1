//! Host tests: addresses, enumeration and BAR placement, and the guest's filtered view against a fake bus.

use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::fake::{FakeConfig, FakeFunction};
use super::*;
use crate::vgic::Width;

/// QEMU virt's host bridge windows: 32-bit MMIO, I/O, and high 64-bit MMIO.
const QEMU_WINDOWS: [Window; 3] = [
    Window {
        start: 0x1000_0000,
        size: 0x2eff_0000,
        kind: WindowKind::Memory32,
    },
    Window {
        start: 0x3eff_0000,
        size: 0x1_0000,
        kind: WindowKind::Io,
    },
    Window {
        start: 0x80_0000_0000,
        size: 0x80_0000_0000,
        kind: WindowKind::Memory64,
    },
];

fn address(text: &str) -> FunctionAddress {
    FunctionAddress::parse(text).unwrap()
}

/// QEMU's `edu`: BAR0 32-bit 1 MiB, 64-bit MSI at 0x40, INTA. Firmware left decode on.
fn edu() -> FakeFunction {
    FakeFunction::new(0x1234, 0x11e8, 0x00ff00, 0x10)
        .subsystem(0x1af4, 0x1100)
        .command_status(0x0007, 0)
        .interrupt(1, 0x2b)
        .bar32(0, 0x10_0000, false)
        .capability(0x40, 0x05, 0x0080)
}

/// A modern virtio-blk: BAR1 32-bit 4 KiB (MSI-X table), BAR4 64-bit
/// prefetchable 16 KiB, vendor capabilities with MSI-X in the middle of the
/// chain, INTA, and a Received Master Abort already flagged in Status.
fn virtio_blk() -> FakeFunction {
    FakeFunction::new(0x1af4, 0x1042, 0x010000, 0x01)
        .subsystem(0x1af4, 0x1100)
        .command_status(0, 0x2000)
        .interrupt(1, 0)
        .bar32(1, 0x1000, false)
        .bar64(4, 0x4000, true)
        .capability(0x84, 0x09, 0x1400)
        .capability(0x70, 0x09, 0x1000)
        .capability(0x98, 0x11, 0x0001)
        .dword(0x9C, 0x0000_0001)
        .dword(0xA0, 0x0000_0801)
        .capability(0x60, 0x09, 0x1000)
        .capability(0x50, 0x09, 0x1000)
        .capability(0x40, 0x09, 0x1400)
}

/// The host bus of these tests: host bridge, edu, virtio-blk, a two-function
/// device (I/O BAR, 64-bit BAR, MSI last in its chain), a PCI-to-PCI bridge
/// with a BAR, and a single-function device with a phantom function 1.
fn host_bus() -> FakeConfig {
    let mut config = FakeConfig::default();
    config.insert("00:00.0", FakeFunction::new(0x1b36, 0x0008, 0x060000, 0));
    config.insert("00:02.0", edu());
    config.insert("00:03.0", virtio_blk());
    config.insert(
        "00:04.0",
        FakeFunction::new(0x8086, 0x2934, 0x0c0300, 3)
            .header_type(0x80)
            .interrupt(1, 0)
            .bar32(0, 0x100, false)
            .io_bar(4, 0x20),
    );
    config.insert(
        "00:04.1",
        FakeFunction::new(0x8086, 0x2935, 0x0c0300, 3)
            .header_type(0x80)
            .interrupt(2, 0)
            .bar32(0, 0x100, false)
            .bar64(2, 0x2000, false)
            .capability(0x40, 0x01, 0x0003)
            .capability(0x50, 0x05, 0x0180),
    );
    config.insert(
        "00:05.0",
        FakeFunction::new(0x1b36, 0x0001, 0x060400, 0)
            .header_type(0x01)
            .bar64(0, 0x100, false),
    );
    config.insert("00:06.0", FakeFunction::new(0x1b36, 0x0005, 0x00ff00, 0));
    config.insert(
        "00:06.1",
        FakeFunction::new(0x1b36, 0x0005, 0x00ff00, 0).bar32(0, 0x1000, false),
    );
    config
}

fn enumerated() -> (FakeConfig, Vec<Function>) {
    let mut config = host_bus();
    let functions = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap();
    (config, functions)
}

fn find<'a>(functions: &'a [Function], text: &str) -> &'a Function {
    functions
        .iter()
        .find(|function| function.address == address(text))
        .unwrap()
}

/// A virtual bus holding the listed functions of the enumerated host bus.
fn partition(texts: &[&str]) -> (FakeConfig, Vec<Function>, VirtualBus) {
    let (mut config, functions) = enumerated();
    let virtual_functions = texts
        .iter()
        .map(|text| VirtualFunction::new(find(&functions, text), &mut config))
        .collect();
    (config, functions, VirtualBus::new(virtual_functions))
}

/// Virtual ECAM offset of `register` in the function at `text` (bus 0).
fn at(text: &str, register: u64) -> u64 {
    address(text).ecam_offset() + register
}

/// IDs of the capabilities a guest finds walking the virtual chain.
fn virtual_chain(bus: &mut VirtualBus, config: &mut FakeConfig, text: &str) -> Vec<u8> {
    let mut ids = Vec::new();
    let mut pointer = bus.read(config, at(text, 0x34), Width::Byte);
    while pointer != 0 && ids.len() < 64 {
        ids.push(bus.read(config, at(text, pointer), Width::Byte) as u8);
        pointer = bus.read(config, at(text, pointer + 1), Width::Byte);
    }
    ids
}

/// A fake capability: offset, ID, upper half of its first dword.
type Capability = (u16, u8, u16);

// Addresses.

#[test]
fn address_display_and_parse_round_trip() {
    for text in ["00:00.0", "00:02.0", "ff:1f.7", "0a:10.3"] {
        assert_eq!(address(text).to_string(), text);
    }
    assert_eq!(
        address("01:1F.7"),
        FunctionAddress {
            bus: 1,
            device: 0x1f,
            function: 7
        }
    );
}

#[test]
fn address_parse_refusals_say_what_is_wrong() {
    assert_eq!(
        FunctionAddress::parse("00:2").unwrap_err().to_string(),
        "\"00:2\" is not a PCI function address: expected BB:DD.F (hex bus and device, function 0-7)"
    );
    assert_eq!(
        FunctionAddress::parse("00:20.0").unwrap_err().to_string(),
        "\"00:20.0\" is not a PCI function address: device 0x20 is above 0x1f"
    );
    assert_eq!(
        FunctionAddress::parse("00:02.8").unwrap_err().to_string(),
        "\"00:02.8\" is not a PCI function address: function 8 is above 7"
    );
    for text in [
        "", "0:02.0", "000:02.0", "00:02", "00.02.0", "00:02.0 ", "+0:02.0", "00:+2.0", "0x:02.0",
        "00:02.00", "00:02.-1", "é0:02.0",
    ] {
        assert!(
            matches!(
                FunctionAddress::parse(text),
                Err(AddressError::Malformed { .. })
            ),
            "{text:?}"
        );
    }
}

#[test]
fn routing_id_is_bus_device_function() {
    assert_eq!(address("00:02.0").routing_id(), 0x0010);
    assert_eq!(address("01:1f.7").routing_id(), 0x01ff);
    assert_eq!(address("ff:00.1").routing_id(), 0xff01);
    assert_eq!(address("00:03.0").ecam_offset(), 0x1_8000);
    assert_eq!(address("02:1f.7").ecam_offset(), 0x2f_f000);
}

proptest! {
    #[test]
    fn ecam_offset_round_trips(bus: u8, device in 0u8..=0x1f, function in 0u8..=7, register in 0u16..0x1000) {
        let address = FunctionAddress { bus, device, function };
        let (parsed, parsed_register) = FunctionAddress::from_ecam_offset(address.ecam_offset() + u64::from(register));
        prop_assert_eq!(parsed, address);
        prop_assert_eq!(parsed_register, register);
        prop_assert_eq!(FunctionAddress::parse(&address.to_string()), Ok(address));
        prop_assert_eq!(u64::from(address.routing_id()) << 12, address.ecam_offset());
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,12}") {
        let _ = FunctionAddress::parse(&text);
    }
}

// Enumeration.

#[test]
fn enumeration_finds_every_function_and_no_phantom() {
    let (_, functions) = enumerated();
    let found: Vec<_> = functions
        .iter()
        .map(|function| function.address.to_string())
        .collect();
    // 06.1 answers, but 06.0 is not multi-function, so it is never probed.
    assert_eq!(
        found,
        ["00:00.0", "00:02.0", "00:03.0", "00:04.0", "00:04.1", "00:05.0", "00:06.0"]
    );
    let edu = find(&functions, "00:02.0");
    assert_eq!((edu.vendor_id, edu.device_id), (0x1234, 0x11e8));
    assert_eq!(edu.class_code, 0x00ff00);
    assert_eq!((edu.header_type, edu.interrupt_pin), (0, 1));
    let function_1 = find(&functions, "00:04.1");
    assert_eq!((function_1.header_type, function_1.interrupt_pin), (0, 2));
    let bridge = find(&functions, "00:05.0");
    assert_eq!(bridge.header_type, 1);
    assert_eq!(bridge.class_code, 0x060400);
    assert!(bridge.bars.is_empty());
}

#[test]
fn enumeration_sizes_bars() {
    let (_, functions) = enumerated();
    let virtio = find(&functions, "00:03.0");
    let shape: Vec<_> = virtio
        .bars
        .iter()
        .map(|bar| (bar.index, bar.kind, bar.prefetchable, bar.size))
        .collect();
    assert_eq!(
        shape,
        [
            (1, BarKind::Memory32, false, 0x1000),
            (4, BarKind::Memory64, true, 0x4000)
        ]
    );
    let edu = find(&functions, "00:02.0");
    assert_eq!(edu.bars.len(), 1);
    assert_eq!(edu.bars[0].size, 0x10_0000);
    let io = find(&functions, "00:04.0").bar(4).unwrap();
    assert_eq!((io.kind, io.size, io.address), (BarKind::Io, 0x20, 0));
    let wide = find(&functions, "00:04.1").bar(2).unwrap();
    assert_eq!((wide.kind, wide.size), (BarKind::Memory64, 0x2000));
}

#[test]
fn bars_never_share_a_page_and_are_aligned_inside_windows() {
    let (_, functions) = enumerated();
    let mut placed: Vec<(u64, u64, FunctionAddress)> = Vec::new();
    for function in &functions {
        for bar in function.bars.iter().filter(|bar| bar.kind != BarKind::Io) {
            let footprint = bar.size.max(0x1000);
            assert_eq!(
                bar.address % footprint,
                0,
                "{} BAR {}",
                function.address,
                bar.index
            );
            let window = QEMU_WINDOWS
                .iter()
                .find(|window| {
                    bar.address >= window.start
                        && bar.address + footprint <= window.start + window.size
                })
                .unwrap();
            assert_ne!(window.kind, WindowKind::Io);
            if bar.kind == BarKind::Memory32 {
                assert!(bar.address + footprint <= 1 << 32);
            } else {
                // Memory32 has room, so 64-bit BARs stay low.
                assert_eq!(window.kind, WindowKind::Memory32);
            }
            placed.push((bar.address, bar.address + footprint, function.address));
        }
    }
    assert_eq!(placed.len(), 6);
    for (position, &(start, end, owner)) in placed.iter().enumerate() {
        for &(other_start, other_end, other) in &placed[position + 1..] {
            assert!(
                end <= other_start || other_end <= start,
                "{owner} and {other} overlap"
            );
        }
    }
}

#[test]
fn enumeration_programs_bars_and_leaves_decode_off() {
    let (config, functions) = enumerated();
    for function in &functions {
        let text = function.address.to_string();
        assert_eq!(config.dword(&text, 0x04) & 0xFFFF, 0, "{text} command");
        for bar in &function.bars {
            let low = config.dword(&text, 0x10 + 4 * u16::from(bar.index));
            match bar.kind {
                BarKind::Memory32 => assert_eq!(u64::from(low & !0xF), bar.address),
                BarKind::Memory64 => {
                    let high = config.dword(&text, 0x14 + 4 * u16::from(bar.index));
                    assert_eq!(u64::from(low & !0xF) | (u64::from(high) << 32), bar.address);
                }
                BarKind::Io => assert_eq!(low, 1),
            }
        }
    }
    // Type bits stay; the Status error bit was not cleared by the Command write.
    assert_eq!(config.dword("00:03.0", 0x20) & 0xF, 0xC);
    assert_eq!(config.dword("00:03.0", 0x04) >> 16, 0x2010);
    // Interrupt Line left alone; ROM written 0.
    assert_eq!(config.dword("00:02.0", 0x3C), 0x012b);
    assert!(config.writes.contains(&(address("00:02.0"), 0x30, 0)));
    // The bridge's BAR was neither sized nor assigned, and its ROM left alone.
    assert_eq!(config.writes_to(0, address("00:05.0"), 0x10..0x40), 0);
}

#[test]
fn sixty_four_bit_bars_go_high_once_the_low_window_is_full() {
    let mut config = host_bus();
    // Exactly room for the 32-bit BARs: 1 MiB + three pages.
    let windows = [
        Window {
            start: 0x1000_0000,
            size: 0x10_3000,
            kind: WindowKind::Memory32,
        },
        QEMU_WINDOWS[2],
    ];
    let functions = enumerate(&mut config, 0..=0, &windows).unwrap();
    let bar = *find(&functions, "00:03.0").bar(4).unwrap();
    assert_eq!(bar.address, 0x80_0000_0000);
    assert_eq!(config.dword("00:03.0", 0x20), 0x0000_000C);
    assert_eq!(config.dword("00:03.0", 0x24), 0x80);
    let wide = find(&functions, "00:04.1").bar(2).unwrap();
    assert_eq!(wide.address, 0x80_0000_4000);
}

#[test]
fn window_exhaustion_names_the_bar() {
    let mut config = host_bus();
    let windows = [Window {
        start: 0x1000_0000,
        size: 0x10_3000,
        kind: WindowKind::Memory32,
    }];
    let error = enumerate(&mut config, 0..=0, &windows).unwrap_err();
    assert_eq!(
        error,
        EnumerationError::WindowExhausted {
            function: address("00:03.0"),
            bar: 4,
            size: 0x4000,
            kind: BarKind::Memory64
        }
    );
    assert_eq!(
        error.to_string(),
        "00:03.0: BAR 4 (0x4000 bytes, 64-bit) does not fit in the host bridge's windows"
    );
    // A 32-bit BAR never goes into a 64-bit window, nor above 4 GiB.
    let windows = [
        QEMU_WINDOWS[2],
        Window {
            start: 0xffff_f000,
            size: 0x10_0000,
            kind: WindowKind::Memory32,
        },
    ];
    let error = enumerate(&mut host_bus(), 0..=0, &windows).unwrap_err();
    assert_eq!(
        error.to_string(),
        "00:02.0: BAR 0 (0x100000 bytes, 32-bit) does not fit in the host bridge's windows"
    );
}

#[test]
fn malformed_bar_is_refused() {
    // BAR 5 claims to be the low half of a 64-bit BAR: there is no BAR 6.
    let mut config = FakeConfig::default();
    config.insert(
        "00:02.0",
        FakeFunction::new(0x1234, 0x5678, 0, 0)
            .bar32(5, 0x1000, false)
            .dword(0x24, 0x4),
    );
    let error = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap_err();
    assert_eq!(
        error,
        EnumerationError::MalformedBar {
            function: address("00:02.0"),
            bar: 5,
            probe: 0xFFFF_F004
        }
    );
    assert!(error
        .to_string()
        .starts_with("00:02.0: BAR 5 reads 0xfffff004"));
}

#[test]
fn empty_bus_and_no_windows() {
    let mut config = FakeConfig::default();
    assert_eq!(enumerate(&mut config, 0..=255, &[]), Ok(Vec::new()));
    // Functions without memory BARs need no window.
    let mut config = FakeConfig::default();
    config.insert("00:00.0", FakeFunction::new(0x1b36, 8, 0x060000, 0));
    assert_eq!(enumerate(&mut config, 0..=0, &[]).unwrap().len(), 1);
}

// The guest's view: BARs.

#[test]
fn virtual_bars_read_assigned_addresses_with_type_bits() {
    let (mut config, functions, mut bus) = partition(&["00:02.0", "00:03.0"]);
    let virtio = find(&functions, "00:03.0");
    let bar1 = virtio.bar(1).unwrap().address;
    let bar4 = virtio.bar(4).unwrap().address;
    let read = |bus: &mut VirtualBus, config: &mut FakeConfig, register| {
        bus.read(config, at("00:03.0", register), Width::Word)
    };
    assert_eq!(read(&mut bus, &mut config, 0x10), 0);
    assert_eq!(read(&mut bus, &mut config, 0x14), bar1);
    assert_eq!(read(&mut bus, &mut config, 0x18), 0);
    assert_eq!(read(&mut bus, &mut config, 0x1C), 0);
    assert_eq!(
        read(&mut bus, &mut config, 0x20),
        (bar4 & 0xFFFF_FFFF) | 0xC
    );
    assert_eq!(read(&mut bus, &mut config, 0x24), bar4 >> 32);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x20), Width::Double),
        bar4 | 0xC
    );
    let edu = find(&functions, "00:02.0").bars[0].address;
    assert_eq!(bus.read(&mut config, at("00:02.0", 0x10), Width::Word), edu);
}

#[test]
fn virtual_bar_sizing_works_and_moves_are_refused() {
    let (mut config, functions, mut bus) = partition(&["00:02.0", "00:03.0"]);
    let since = config.writes.len();
    let bar4 = find(&functions, "00:03.0").bar(4).unwrap().address;
    let edu = find(&functions, "00:02.0").bars[0].address;
    let mut access = |register: u64, value: Option<u64>| {
        let offset = at("00:03.0", register);
        if let Some(value) = value {
            bus.write(&mut config, offset, Width::Word, value);
        }
        bus.read(&mut config, offset, Width::Word)
    };
    // Linux's sequence for a 64-bit BAR: probe low, probe high, restore both.
    assert_eq!(access(0x20, Some(0xFFFF_FFFF)), 0xFFFF_C00C);
    assert_eq!(access(0x24, Some(0xFFFF_FFFF)), 0xFFFF_FFFF);
    assert_eq!(
        access(0x20, Some(bar4 & 0xFFFF_FFFF)),
        (bar4 & 0xFFFF_FFFF) | 0xC
    );
    assert_eq!(access(0x24, Some(bar4 >> 32)), bar4 >> 32);
    assert_eq!(access(0x14, Some(0xFFFF_FFFF)), 0xFFFF_F000);
    // A move is refused: the BAR stays where Bulkhead put it.
    let bar1 = find(&functions, "00:03.0").bar(1).unwrap().address;
    assert_eq!(access(0x14, Some(0x2000_0000)), bar1);
    assert_eq!(access(0x20, Some(0x3000_0000)), (bar4 & 0xFFFF_FFFF) | 0xC);
    // Unimplemented slots size as 0.
    assert_eq!(access(0x10, Some(0xFFFF_FFFF)), 0);
    // Only a whole-dword all-ones probes.
    bus.write(&mut config, at("00:02.0", 0x10), Width::Byte, 0xFF);
    assert_eq!(bus.read(&mut config, at("00:02.0", 0x10), Width::Word), edu);
    bus.write(&mut config, at("00:02.0", 0x10), Width::Double, u64::MAX);
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x10), Width::Word),
        0xFFF0_0000
    );
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x12), Width::Half),
        0xFFF0
    );
    // Nothing reached the devices.
    assert_eq!(config.writes.len(), since);
}

#[test]
fn expansion_rom_reads_zero() {
    let (mut config, _, mut bus) = partition(&["00:02.0"]);
    config.set_dword("00:02.0", 0x30, 0xFEED_0001);
    bus.write(&mut config, at("00:02.0", 0x30), Width::Word, 0xFFFF_FFFF);
    assert_eq!(bus.read(&mut config, at("00:02.0", 0x30), Width::Word), 0);
}

// The guest's view: Command and Status.

#[test]
fn command_writes_pass_only_driver_bits() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    let command = at("00:03.0", 0x04);
    bus.write(&mut config, command, Width::Half, 0xFFFF);
    assert_eq!(config.dword("00:03.0", 0x04) & 0xFFFF, 0x0546);
    assert_eq!(bus.read(&mut config, command, Width::Half), 0x0546);
    // I/O decode never turns on; the guest's clear of memory decode does pass.
    bus.write(&mut config, command, Width::Half, 0x0001);
    assert_eq!(config.dword("00:03.0", 0x04) & 0xFFFF, 0);
    // A byte write of the high half keeps the low half.
    bus.write(&mut config, command, Width::Byte, 0x06);
    bus.write(&mut config, command + 1, Width::Byte, 0x04);
    assert_eq!(config.dword("00:03.0", 0x04) & 0xFFFF, 0x0406);
    // A bit the device keeps but the guest may not change stays as it was.
    config.set_dword("00:03.0", 0x04, 0x2010_0010);
    bus.write(&mut config, command, Width::Half, 0x0002);
    assert_eq!(config.dword("00:03.0", 0x04), 0x2010_0012);
}

#[test]
fn status_error_bits_clear_only_when_the_guest_writes_them() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    config.set_dword("00:03.0", 0x04, 0x2110_0002);
    // A Command-only write must not clear Status bits.
    bus.write(&mut config, at("00:03.0", 0x04), Width::Half, 0x0006);
    assert_eq!(config.dword("00:03.0", 0x04), 0x2110_0006);
    bus.write(&mut config, at("00:03.0", 0x05), Width::Byte, 0x00);
    assert_eq!(config.dword("00:03.0", 0x04), 0x2110_0006);
    // Writing 1 to one error bit clears just that bit; capability bit is read-only.
    bus.write(&mut config, at("00:03.0", 0x06), Width::Half, 0x0110);
    assert_eq!(config.dword("00:03.0", 0x04), 0x2010_0006);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x06), Width::Half),
        0x2010
    );
    // A whole-dword write: Command filtered, Status all ones clears only the errors.
    bus.write(&mut config, at("00:03.0", 0x04), Width::Word, 0xFFFF_0000);
    assert_eq!(config.dword("00:03.0", 0x04), 0x0010_0000);
}

// The guest's view: header bytes.

#[test]
fn identity_reads_through() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    let read = |bus: &mut VirtualBus, config: &mut FakeConfig, register, width| {
        bus.read(config, at("00:03.0", register), width)
    };
    assert_eq!(read(&mut bus, &mut config, 0x00, Width::Word), 0x1042_1af4);
    assert_eq!(read(&mut bus, &mut config, 0x02, Width::Half), 0x1042);
    assert_eq!(read(&mut bus, &mut config, 0x08, Width::Word), 0x0100_0001);
    assert_eq!(read(&mut bus, &mut config, 0x2C, Width::Word), 0x1100_1af4);
    assert_eq!(read(&mut bus, &mut config, 0x3D, Width::Byte), 1);
    assert_eq!(
        read(&mut bus, &mut config, 0x00, Width::Double),
        0x0010_0000_1042_1af4 | (0x2000 << 48)
    );
    // Writes to identity registers are ignored.
    let since = config.writes.len();
    bus.write(&mut config, at("00:03.0", 0x00), Width::Word, 0);
    bus.write(&mut config, at("00:03.0", 0x0F), Width::Byte, 0x40);
    bus.write(&mut config, at("00:03.0", 0x2C), Width::Word, 0);
    assert_eq!(config.writes.len(), since);
}

#[test]
fn interrupt_line_and_cache_line_size_are_virtual() {
    let (mut config, _, mut bus) = partition(&["00:02.0"]);
    let since = config.writes.len();
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x3C), Width::Word),
        0x0100
    );
    bus.write(&mut config, at("00:02.0", 0x3C), Width::Byte, 0x20);
    bus.write(&mut config, at("00:02.0", 0x3D), Width::Byte, 0x04);
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x3C), Width::Half),
        0x0120
    );
    bus.write(&mut config, at("00:02.0", 0x0C), Width::Half, 0x4010);
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x0C), Width::Word),
        0x4010
    );
    bus.write(&mut config, at("00:02.0", 0x0F), Width::Byte, 0x40);
    assert_eq!(bus.read(&mut config, at("00:02.0", 0x0F), Width::Byte), 0);
    assert_eq!(config.writes.len(), since);
    assert_eq!(config.dword("00:02.0", 0x3C), 0x012b);
}

#[test]
fn extended_space_reads_zero() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    config.set_dword("00:03.0", 0x100, 0x1001_0001);
    let since = config.writes.len();
    for offset in [0x100, 0x108, 0xFF8] {
        assert_eq!(
            bus.read(&mut config, at("00:03.0", offset), Width::Double),
            0
        );
        bus.write(&mut config, at("00:03.0", offset), Width::Word, 0xFFFF_FFFF);
    }
    assert_eq!(config.writes.len(), since);
}

#[test]
fn unaligned_and_out_of_range_accesses_read_all_ones() {
    let (mut config, functions, mut bus) = partition(&["00:03.0"]);
    let since = config.writes.len();
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x01), Width::Half),
        0xFFFF
    );
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x02), Width::Word),
        0xFFFF_FFFF
    );
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x04), Width::Double),
        u64::MAX
    );
    bus.write(&mut config, at("00:03.0", 0x05), Width::Half, 0xFFFF);
    bus.write(&mut config, at("00:03.0", 0x42), Width::Word, 0xFFFF_FFFF);
    bus.write(&mut config, at("00:03.0", 0x44), Width::Double, u64::MAX);
    assert_eq!(config.writes.len(), since);
    let mut function = VirtualFunction::new(find(&functions, "00:03.0"), &mut config);
    for offset in [0x1000, 0x1004, u16::MAX] {
        assert_eq!(function.read(&mut config, offset, Width::Byte), 0xFF);
        function.write(&mut config, offset, Width::Byte, 0);
    }
    assert_eq!(config.writes.len(), since);
}

// The guest's view: capabilities.

#[test]
fn msi_and_msix_are_unlinked_from_the_chain() {
    let (mut config, _, mut bus) = partition(&["00:02.0", "00:03.0", "00:04.0", "00:04.1"]);
    // virtio-blk: MSI-X in the middle.
    assert_eq!(
        virtual_chain(&mut bus, &mut config, "00:03.0"),
        [9, 9, 9, 9, 9]
    );
    // edu: MSI is the only capability, so the pointer reads 0 but Status still says "list".
    assert_eq!(bus.read(&mut config, at("00:02.0", 0x34), Width::Word), 0);
    assert_ne!(
        bus.read(&mut config, at("00:02.0", 0x06), Width::Half) & 0x10,
        0
    );
    // MSI last.
    assert_eq!(virtual_chain(&mut bus, &mut config, "00:04.1"), [1]);
    assert_eq!(virtual_chain(&mut bus, &mut config, "00:04.0"), []);
}

#[test]
fn msi_first_middle_or_last_is_hidden() {
    let chains: [&[Capability]; 4] = [
        &[(0x40, 0x05, 0x0180), (0x60, 0x01, 3), (0x70, 0x10, 2)],
        &[(0x40, 0x01, 3), (0x50, 0x05, 0x0000), (0x60, 0x10, 2)],
        &[(0x40, 0x01, 3), (0x50, 0x10, 2), (0x80, 0x05, 0x0080)],
        &[
            (0xF0, 0x05, 0x0180),
            (0x40, 0x11, 0),
            (0x50, 0x01, 3),
            (0x60, 0x05, 0),
        ],
    ];
    let expected: [&[u8]; 4] = [&[1, 0x10], &[1, 0x10], &[1, 0x10], &[1]];
    for (chain, expected) in chains.iter().zip(expected) {
        let mut fake = FakeFunction::new(0x1234, 0x11e8, 0, 0);
        for &(offset, id, control) in chain.iter() {
            fake = fake.capability(offset, id, control);
        }
        let mut config = FakeConfig::default();
        config.insert("00:01.0", fake);
        let functions = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap();
        let mut bus = VirtualBus::new(vec![VirtualFunction::new(&functions[0], &mut config)]);
        assert_eq!(
            virtual_chain(&mut bus, &mut config, "00:01.0"),
            expected,
            "{chain:x?}"
        );
    }
}

#[test]
fn hidden_capabilities_read_zero_and_ignore_writes() {
    let (mut config, _, mut bus) = partition(&["00:02.0", "00:03.0", "00:04.1"]);
    config.set_dword("00:02.0", 0x44, 0xFEE0_0000);
    let since = config.writes.len();
    // edu's 64-bit MSI spans 0x40..0x50.
    for offset in (0x40..0x50).step_by(4) {
        assert_eq!(bus.read(&mut config, at("00:02.0", offset), Width::Word), 0);
        bus.write(&mut config, at("00:02.0", offset), Width::Word, 0xFFFF_FFFF);
        bus.write(&mut config, at("00:02.0", offset + 2), Width::Half, 0xFFFF);
    }
    // virtio's MSI-X spans 0x98..0xA4: the enable bit is out of reach.
    bus.write(&mut config, at("00:03.0", 0x9A), Width::Half, 0x8000);
    bus.write(&mut config, at("00:03.0", 0x98), Width::Double, u64::MAX);
    assert_eq!(bus.read(&mut config, at("00:03.0", 0xA0), Width::Word), 0);
    // 04.1's 64-bit MSI with per-vector masks spans 0x50..0x68.
    assert_eq!(bus.read(&mut config, at("00:04.1", 0x64), Width::Word), 0);
    bus.write(&mut config, at("00:04.1", 0x64), Width::Word, 0);
    assert_eq!(config.writes.len(), since);
    assert_eq!(config.dword("00:03.0", 0x98) >> 16, 0x0001);
    // Past the hidden capability, device-specific space reads through again.
    config.set_dword("00:02.0", 0x50, 0x1234_5678);
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0x50), Width::Word),
        0x1234_5678
    );
}

#[test]
fn visible_capabilities_and_device_specific_space_take_writes() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    // A byte inside a vendor capability's body.
    bus.write(&mut config, at("00:03.0", 0x8B), Width::Byte, 0x5a);
    assert_eq!(config.dword("00:03.0", 0x88) >> 24, 0x5a);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x8B), Width::Byte),
        0x5a
    );
    // Next pointers read virtual: 0x70 skips MSI-X to 0x60.
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x71), Width::Byte),
        0x60
    );
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0x70), Width::Word),
        0x1000_6009
    );
    // Device-specific space outside capabilities.
    bus.write(&mut config, at("00:03.0", 0xC0), Width::Word, 0xCAFE_F00D);
    bus.write(&mut config, at("00:03.0", 0xC6), Width::Half, 0xBEEF);
    assert_eq!(config.dword("00:03.0", 0xC0), 0xCAFE_F00D);
    assert_eq!(config.dword("00:03.0", 0xC4), 0xBEEF_0000);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0xC0), Width::Double),
        0xBEEF_0000_CAFE_F00D
    );
}

#[test]
fn capability_walk_survives_cycles_and_stray_pointers() {
    let cases: [(&[Capability], u8, &[u8]); 4] = [
        // 0x40 -> 0x50 -> 0x40 ...
        (&[(0x40, 0x01, 0), (0x50, 0x10, 0)], 0x40, &[0x01, 0x10]),
        // A capability pointing at itself.
        (&[(0x40, 0x09, 0)], 0x40, &[0x09]),
        // Into the header: the list ends.
        (&[(0x40, 0x09, 0)], 0x3C, &[0x09]),
        // Unaligned: masked to 0x50 (the MSI, hidden), which points back to 0x40.
        (&[(0x40, 0x09, 0), (0x50, 0x05, 0)], 0x43, &[0x09]),
    ];
    for (chain, last_next, expected) in cases {
        let mut fake = FakeFunction::new(0x1234, 0x11e8, 0, 0);
        for &(offset, id, control) in chain {
            fake = fake.capability(offset, id, control);
        }
        let fake = fake.next_pointer(last_next);
        let mut config = FakeConfig::default();
        config.insert("00:01.0", fake);
        let functions = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap();
        let mut bus = VirtualBus::new(vec![VirtualFunction::new(&functions[0], &mut config)]);
        assert_eq!(
            virtual_chain(&mut bus, &mut config, "00:01.0"),
            expected,
            "{chain:x?}"
        );
    }
    // A cycle through every dword slot still ends.
    let mut config = FakeConfig::default();
    let mut fake = FakeFunction::new(0x1234, 0x11e8, 0, 0);
    for offset in (0x40..0x100).step_by(4) {
        fake = fake.capability(offset, 0x09, 0);
    }
    config.insert("00:01.0", fake.next_pointer(0x40));
    let functions = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap();
    let mut bus = VirtualBus::new(vec![VirtualFunction::new(&functions[0], &mut config)]);
    assert_eq!(virtual_chain(&mut bus, &mut config, "00:01.0").len(), 48);
}

// The virtual bus.

#[test]
fn absent_functions_and_other_buses_read_all_ones() {
    let (mut config, _, mut bus) = partition(&["00:03.0"]);
    let since = config.writes.len();
    assert_eq!(
        bus.read(&mut config, at("00:02.0", 0), Width::Word),
        0xFFFF_FFFF
    );
    assert_eq!(bus.read(&mut config, at("00:03.1", 0), Width::Byte), 0xFF);
    assert_eq!(
        bus.read(&mut config, at("00:00.0", 0), Width::Double),
        u64::MAX
    );
    // Bus 1, same device and function numbers: still absent.
    assert_eq!(
        bus.read(&mut config, at("01:03.0", 0), Width::Word),
        0xFFFF_FFFF
    );
    assert_eq!(
        bus.read(&mut config, u64::MAX - 3, Width::Word),
        0xFFFF_FFFF
    );
    bus.write(&mut config, at("00:02.0", 0x04), Width::Word, 0xFFFF);
    bus.write(&mut config, at("01:03.0", 0x04), Width::Word, 0xFFFF);
    assert_eq!(config.writes.len(), since);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0), Width::Word),
        0x1042_1af4
    );
}

#[test]
fn functions_keep_their_numbers_on_virtual_bus_zero() {
    let mut config = host_bus();
    let functions = enumerate(&mut config, 0..=0, &QEMU_WINDOWS).unwrap();
    let mut moved = find(&functions, "00:03.0").clone();
    config.insert("01:03.0", virtio_blk());
    moved.address = address("01:03.0");
    let mut second = find(&functions, "00:04.1").clone();
    second.address = address("01:04.1");
    config.insert("01:04.1", virtio_blk());
    let bus = VirtualBus::new(vec![
        VirtualFunction::new(&moved, &mut config),
        VirtualFunction::new(find(&functions, "00:03.0"), &mut config),
        VirtualFunction::new(&second, &mut config),
    ]);
    assert_eq!(bus.dropped(), [address("00:03.0")]);
    assert_eq!(bus.without_function_zero(), [address("01:04.1")]);
    let mut bus = bus;
    // The physical function behind virtual 00:03.0 is 01:03.0.
    config.set_dword("01:03.0", 0xC0, 0x0101_0101);
    assert_eq!(
        bus.read(&mut config, at("00:03.0", 0xC0), Width::Word),
        0x0101_0101
    );
    assert_eq!(
        format!(
            "{}",
            VirtualFunction::new(&moved, &mut config).virtual_address()
        ),
        "00:03.0"
    );
}

/// One guest access in the property test.
#[derive(Clone, Debug)]
enum Access {
    Read(u64, Width),
    Write(u64, Width, u64),
}

/// Any access width, equally likely (the emulated functions' property tests use it too).
pub(super) fn width() -> impl Strategy<Value = Width> {
    prop_oneof![
        Just(Width::Byte),
        Just(Width::Half),
        Just(Width::Word),
        Just(Width::Double)
    ]
}

fn access() -> impl Strategy<Value = Access> {
    // Mostly inside the assigned functions' headers, sometimes anywhere.
    let offset = prop_oneof![
        4 => (prop_oneof![Just(0x1_0000u64), Just(0x1_8000), Just(0x2_0000), Just(0x2_1000)], 0u64..0x110)
            .prop_map(|(function, register)| function + register),
        1 => 0u64..0x20_0000,
        1 => any::<u64>(),
    ];
    let value = prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()];
    prop_oneof![
        (offset.clone(), width()).prop_map(|(offset, width)| Access::Read(offset, width)),
        (offset, width(), value)
            .prop_map(|(offset, width, value)| Access::Write(offset, width, value)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_guests_never_move_bars_or_touch_msi(accesses in prop::collection::vec(access(), 0..200)) {
        let (mut config, functions, mut bus) = partition(&["00:02.0", "00:03.0", "00:04.0", "00:04.1"]);
        let since = config.writes.len();
        let protected: [(&str, core::ops::Range<u16>); 5] = [
            ("00:02.0", 0x40..0x50),
            ("00:03.0", 0x98..0xA4),
            ("00:04.1", 0x50..0x68),
            ("00:04.0", 0x10..0x28),
            ("00:04.1", 0x10..0x28),
        ];
        for access in accesses {
            match access {
                Access::Read(offset, width) => {
                    let value = bus.read(&mut config, offset, width);
                    let limit = match width {
                        Width::Byte => 0xFF,
                        Width::Half => 0xFFFF,
                        Width::Word => 0xFFFF_FFFF,
                        Width::Double => u64::MAX,
                    };
                    prop_assert!(value <= limit);
                }
                Access::Write(offset, width, value) => {
                    prop_assert_eq!(bus.write(&mut config, offset, width, value), None);
                }
            }
            for text in ["00:02.0", "00:03.0", "00:04.0", "00:04.1"] {
                let function = address(text);
                prop_assert_eq!(config.writes_to(since, function, 0x10..0x28), 0);
                prop_assert_eq!(config.writes_to(since, function, 0x30..0x34), 0);
                prop_assert_eq!(config.writes_to(since, function, 0x3C..0x40), 0);
                prop_assert_eq!(config.writes_to(since, function, 0x100..0x1000), 0);
                prop_assert_eq!(config.dword(text, 0x04) & 1, 0, "I/O decode on");
                for bar in &find(&functions, text).bars {
                    if bar.kind != BarKind::Io {
                        let low = config.dword(text, 0x10 + 4 * u16::from(bar.index));
                        prop_assert_eq!(u64::from(low & !0xF), bar.address & 0xFFFF_FFFF);
                    }
                }
            }
            for (text, range) in protected.iter() {
                prop_assert_eq!(config.writes_to(since, address(text), range.clone()), 0);
            }
            // Functions not assigned to this partition are never touched.
            for text in ["00:00.0", "00:05.0", "00:06.0"] {
                prop_assert_eq!(config.writes_to(since, address(text), 0..0x1000), 0);
            }
        }
    }
}
