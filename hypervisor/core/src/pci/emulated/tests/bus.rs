//! Emulated functions on a virtual bus beside assigned ones: slots, refusals, raises, reset.

use alloc::sync::Arc;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::super::super::fake::{FakeConfig, FakeFunction};
use super::super::super::tests::width;
use super::super::super::{
    enumerate, FunctionAddress, Raise, SlotError, VirtualBus, VirtualFunction, Window, WindowKind,
};
use super::super::{BarWindow, EmulatedFunction, IntxLine, IvshmemRegisters};
use super::{ivshmem, REGISTERS};
use crate::address::Ipa;
use crate::vgic::Width;

/// Device numbers as `config::virtual_pci` gives them: channel 0 and control.
const CHANNEL: u8 = 30;
const CONTROL: u8 = 31;

fn address(text: &str) -> FunctionAddress {
    FunctionAddress::parse(text).unwrap()
}

/// ECAM offset of `register` at function 0 of `device`.
fn at(device: u8, register: u64) -> u64 {
    FunctionAddress {
        bus: 0,
        device,
        function: 0,
    }
    .ecam_offset()
        + register
}

/// A partition given 00:02.0 and 00:1d.1 (not 00:1d.0) of a host bus.
fn host() -> (FakeConfig, VirtualBus) {
    let mut config = FakeConfig::default();
    let device = || FakeFunction::new(0x1234, 0x11e8, 0x00ff00, 0x10).bar32(0, 0x1000, false);
    config.insert("00:02.0", device());
    config.insert("00:1d.0", device().header_type(0x80));
    config.insert("00:1d.1", device());
    let window = Window {
        start: 0x1000_0000,
        size: 0x100_0000,
        kind: WindowKind::Memory32,
    };
    let functions = enumerate(&mut config, 0..=0, &[window]).unwrap();
    let functions = functions
        .iter()
        .filter(|function| function.address != address("00:1d.0"))
        .map(|function| VirtualFunction::new(function, &mut config))
        .collect();
    (config, VirtualBus::new(functions))
}

fn control() -> EmulatedFunction {
    EmulatedFunction::control(
        BarWindow {
            address: Ipa(0x3f11_0000),
            size: 0x1000,
        },
        Arc::new(IntxLine::new()),
    )
    .unwrap()
}

/// `host()` with an ivshmem endpoint at [`CHANNEL`] and the control function at [`CONTROL`].
fn populated() -> (FakeConfig, VirtualBus, IvshmemRegisters) {
    let (config, mut bus) = host();
    let (function, registers) = ivshmem();
    bus.add_emulated(CHANNEL, function).unwrap();
    bus.add_emulated(CONTROL, control()).unwrap();
    (config, bus, registers)
}

#[test]
fn emulated_functions_answer_at_function_zero_only() {
    let (mut config, mut bus, _) = populated();
    assert_eq!(
        bus.read(&mut config, at(CHANNEL, 0), Width::Word),
        0x1110_1af4
    );
    assert_eq!(
        bus.read(&mut config, at(CONTROL, 0), Width::Word),
        0x11bd_1af4
    );
    assert_eq!(
        bus.read(&mut config, at(CHANNEL, 0x10), Width::Word),
        REGISTERS
    );
    for function in 1..8 {
        let offset = at(CHANNEL, 0) + (function << 12);
        assert_eq!(bus.read(&mut config, offset, Width::Word), 0xFFFF_FFFF);
    }
    // Bus 1 does not hold them.
    assert_eq!(
        bus.read(&mut config, at(CHANNEL, 0) + (1 << 20), Width::Word),
        0xFFFF_FFFF
    );
    // The assigned functions are as before.
    assert_eq!(bus.read(&mut config, at(2, 0), Width::Word), 0x11e8_1234);
    assert_eq!(bus.without_function_zero(), [address("00:1d.1")]);
    assert!(bus.dropped().is_empty());
}

#[test]
fn occupied_or_invalid_slots_are_refused() {
    let (_, mut bus) = host();
    assert_eq!(
        bus.add_emulated(2, control()),
        Err(SlotError::Physical {
            device: 2,
            function: address("00:02.0")
        })
    );
    assert_eq!(
        bus.add_emulated(0x1d, control()),
        Err(SlotError::Physical {
            device: 0x1d,
            function: address("00:1d.1")
        }),
        "any function of the device"
    );
    assert_eq!(
        bus.add_emulated(32, control()),
        Err(SlotError::DeviceOutOfRange { device: 32 })
    );
    assert_eq!(bus.add_emulated(CONTROL, control()), Ok(()));
    assert_eq!(
        bus.add_emulated(CONTROL, control()),
        Err(SlotError::Emulated { device: CONTROL })
    );
    let message = SlotError::Physical {
        device: 2,
        function: address("00:02.0"),
    }
    .to_string();
    assert!(
        message.contains("0x02") && message.contains("00:02.0"),
        "{message}"
    );
}

#[test]
fn writes_report_which_function_raised() {
    let (mut config, mut bus, registers) = populated();
    assert_eq!(
        bus.write(&mut config, at(CHANNEL, 0x04), Width::Half, 0x0406),
        None
    );
    assert!(!registers.write(0x00, Width::Word, 1).raise);
    assert!(!registers.ring(), "INTx disabled");
    assert_eq!(bus.read(&mut config, at(CHANNEL, 0x06), Width::Half), 0x08);
    assert_eq!(
        bus.write(&mut config, at(CHANNEL, 0x05), Width::Byte, 0x00),
        Some(Raise { device: CHANNEL })
    );
    assert_eq!(
        bus.write(&mut config, at(CHANNEL, 0x05), Width::Byte, 0x00),
        None
    );
    // Physical functions never raise through the bus.
    assert_eq!(
        bus.write(&mut config, at(2, 0x04), Width::Half, 0x0002),
        None
    );
    assert_eq!(
        bus.write(&mut config, at(CONTROL, 0x04), Width::Half, 0x0002),
        None
    );
}

#[test]
fn reset_puts_every_emulated_function_back() {
    let (mut config, mut bus, registers) = populated();
    let _ = bus.write(&mut config, at(CHANNEL, 0x04), Width::Half, 0x0406);
    let _ = bus.write(&mut config, at(CONTROL, 0x3C), Width::Byte, 0x21);
    let _ = registers.write(0x00, Width::Word, 1);
    let _ = registers.ring();
    bus.reset_emulated();
    assert_eq!(bus.read(&mut config, at(CHANNEL, 0x04), Width::Word), 0);
    assert_eq!(bus.read(&mut config, at(CONTROL, 0x3C), Width::Byte), 0);
    assert_eq!(registers.read(0x04, Width::Word), 0);
    assert_eq!(registers.read(0x00, Width::Word), 0);
    // The physical function's Command is not the bus's to reset.
    let _ = bus.write(&mut config, at(2, 0x04), Width::Half, 0x0002);
    bus.reset_emulated();
    assert_eq!(bus.read(&mut config, at(2, 0x04), Width::Half), 0x0002);
}

/// One step of the property test: a config access, a BAR0 access or a peer's ring.
#[derive(Clone, Debug)]
enum Step {
    ConfigRead(u64, Width),
    ConfigWrite(u64, Width, u64),
    RegisterRead(u64, Width),
    RegisterWrite(u64, Width, u64),
    Ring,
}

fn step() -> impl Strategy<Value = Step> {
    let config = prop_oneof![
        3 => (prop_oneof![Just(CHANNEL), Just(CONTROL), Just(2u8)], 0u64..0x48)
            .prop_map(|(device, register)| at(device, register)),
        1 => 0u64..0x10_0000,
    ];
    let register = prop_oneof![3 => 0u64..0x40, 1 => any::<u64>()];
    let value = prop_oneof![
        Just(u64::MAX),
        Just(0u64),
        Just(1u64),
        Just(0x400),
        any::<u64>()
    ];
    prop_oneof![
        (config.clone(), width()).prop_map(|(offset, width)| Step::ConfigRead(offset, width)),
        (config, width(), value.clone())
            .prop_map(|(offset, width, value)| Step::ConfigWrite(offset, width, value)),
        (register.clone(), width()).prop_map(|(offset, width)| Step::RegisterRead(offset, width)),
        (register, width(), value)
            .prop_map(|(offset, width, value)| Step::RegisterWrite(offset, width, value)),
        Just(Step::Ring),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the guest and the peers do: a raise is reported exactly when
    /// the line goes from low to high, only for the function that rose; the
    /// line is always `pending && !INTx Disable`; BARs never move.
    #[test]
    fn raises_are_exactly_the_rising_edges(steps in prop::collection::vec(step(), 0..200)) {
        let (mut config, mut bus, registers) = populated();
        let line = registers.line().clone();
        let mut raised = Vec::new();
        for step in steps {
            let before = line.asserted();
            let raise = match step {
                Step::ConfigRead(offset, width) => {
                    let _ = bus.read(&mut config, offset, width);
                    false
                }
                Step::ConfigWrite(offset, width, value) => {
                    match bus.write(&mut config, offset, width, value) {
                        Some(Raise { device }) => {
                            raised.push(device);
                            prop_assert_eq!(device, CHANNEL, "the control function has no events");
                            true
                        }
                        None => false,
                    }
                }
                Step::RegisterRead(offset, width) => {
                    let _ = registers.read(offset, width);
                    false
                }
                Step::RegisterWrite(offset, width, value) => {
                    let effects = registers.write(offset, width, value);
                    if let Some(ring) = effects.ring {
                        prop_assert!(ring.peer.is_none_or(|peer| peer < 3 && peer != 1));
                    }
                    effects.raise
                }
                Step::Ring => registers.ring(),
            };
            prop_assert_eq!(raise, !before && line.asserted());
            let command = bus.read(&mut config, at(CHANNEL, 0x04), Width::Word);
            let disabled = command & 0x400 != 0;
            prop_assert_eq!(line.asserted(), line.pending() && !disabled);
            prop_assert_eq!(command >> 16 & 0x08 != 0, line.pending());
            let bar0 = bus.read(&mut config, at(CHANNEL, 0x10), Width::Word);
            prop_assert!(bar0 == REGISTERS || bar0 == 0xFFFF_FF00);
        }
        prop_assert!(raised.iter().all(|&device| device == CHANNEL));
    }
}

#[test]
fn clones_share_the_line() {
    let (function, registers) = ivshmem();
    let copy = function.clone();
    assert_eq!(copy, function);
    let other = ivshmem().0;
    assert_ne!(other, function, "same header, different line");
    let _ = registers.write(0x00, Width::Word, 1);
    assert!(copy.line().signal());
    assert_eq!(function.read(0x06, Width::Half), 0x08);
}
