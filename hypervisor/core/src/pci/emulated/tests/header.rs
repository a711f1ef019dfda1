//! The emulated config header: identity, BARs, Command and Status, refusals.

use alloc::sync::Arc;

use bulkhead_abi::{control, ivshmem};

use super::super::{BarError, BarWindow, EmulatedFunction, IntxLine};
use super::{
    ivshmem as endpoint_pair, memory_window, registers_window, MEMORY, MEMORY_SIZE, REGISTERS,
};
use crate::address::Ipa;
use crate::vgic::Width;

fn control_function() -> EmulatedFunction {
    EmulatedFunction::control(
        BarWindow {
            address: Ipa(0x3f11_0000),
            size: control::REGISTERS_SIZE,
        },
        Arc::new(IntxLine::new()),
    )
    .expect("valid BAR")
}

#[test]
fn identity_class_and_revision() {
    let (function, _) = endpoint_pair();
    assert_eq!(function.read(0x00, Width::Word), 0x1110_1af4);
    assert_eq!(
        function.read(0x00, Width::Half),
        u64::from(ivshmem::VENDOR_ID)
    );
    assert_eq!(
        function.read(0x02, Width::Half),
        u64::from(ivshmem::DEVICE_ID)
    );
    assert_eq!(function.read(0x08, Width::Word), 0x0500_0001);
    assert_eq!(
        function.read(0x08, Width::Byte),
        u64::from(ivshmem::REVISION)
    );
    assert_eq!(function.read(0x2C, Width::Word), 0x1100_1af4);
    let control = control_function();
    assert_eq!(control.read(0x00, Width::Word), 0x11bd_1af4);
    assert_eq!(control.read(0x08, Width::Word), 0x0880_0001);
    assert_eq!(control.read(0x2C, Width::Word), 0x11bd_1af4);
}

#[test]
fn single_function_endpoint_with_inta_and_no_capabilities() {
    let (function, _) = endpoint_pair();
    assert_eq!(
        function.read(0x0C, Width::Word),
        0,
        "header type 0, single function"
    );
    assert_eq!(
        function.read(0x06, Width::Half),
        0,
        "Status: no capability list"
    );
    assert_eq!(function.read(0x34, Width::Word), 0);
    assert_eq!(function.read(0x3D, Width::Byte), 1, "pin INTA");
    assert_eq!(function.read(0x30, Width::Word), 0, "no expansion ROM");
    for offset in (0x40..0x1000).step_by(4) {
        assert_eq!(function.read(offset, Width::Word), 0, "offset {offset:#x}");
    }
}

#[test]
fn bars_read_fixed_addresses_with_type_bits() {
    let (function, _) = endpoint_pair();
    assert_eq!(function.read(0x10, Width::Word), REGISTERS);
    assert_eq!(function.read(0x14, Width::Word), 0);
    assert_eq!(function.read(0x18, Width::Word), MEMORY | 0b1100);
    assert_eq!(function.read(0x1C, Width::Word), 0);
    assert_eq!(function.read(0x18, Width::Double), MEMORY | 0b1100);
    assert_eq!(function.read(0x20, Width::Word), 0);
    let control = control_function();
    assert_eq!(control.read(0x10, Width::Word), 0x3f11_0000);
    assert_eq!(control.read(0x18, Width::Word), 0, "no memory BAR");
}

#[test]
fn bar_sizing_works_and_moves_are_refused() {
    let (mut function, _) = endpoint_pair();
    for offset in (0x10..0x28).step_by(4) {
        assert!(!function.write(offset, Width::Word, 0xFFFF_FFFF));
    }
    assert_eq!(function.read(0x10, Width::Word), 0xFFFF_FF00);
    assert_eq!(function.read(0x14, Width::Word), 0);
    assert_eq!(
        function.read(0x18, Width::Word),
        !(MEMORY_SIZE - 1) as u32 as u64 | 0b1100
    );
    assert_eq!(function.read(0x1C, Width::Word), 0xFFFF_FFFF);
    assert_eq!(function.read(0x20, Width::Word), 0);
    // Writing an address back (or anywhere else) ends the probe, moves nothing.
    assert!(!function.write(0x10, Width::Word, 0x1234_5000));
    assert!(!function.write(0x18, Width::Double, 0x8_0000_0000));
    assert_eq!(function.read(0x10, Width::Word), REGISTERS);
    assert_eq!(function.read(0x18, Width::Double), MEMORY | 0b1100);
    // A partial all-ones is not a probe.
    assert!(!function.write(0x10, Width::Half, 0xFFFF));
    assert_eq!(function.read(0x10, Width::Word), REGISTERS);
}

#[test]
fn bad_bars_are_refused_naming_the_bar() {
    let line = Arc::new(IntxLine::new());
    let at = |address, size| BarWindow {
        address: Ipa(address),
        size,
    };
    let refused =
        |registers, memory| EmulatedFunction::ivshmem(registers, memory, line.clone()).map(|_| ());
    assert_eq!(
        refused(at(REGISTERS, 0x300), memory_window()),
        Err(BarError::BadSize {
            bar: 0,
            size: 0x300
        })
    );
    assert_eq!(
        refused(at(REGISTERS, 8), memory_window()),
        Err(BarError::BadSize { bar: 0, size: 8 })
    );
    assert_eq!(
        refused(at(REGISTERS + 0x80, 0x100), memory_window()),
        Err(BarError::Misaligned {
            bar: 0,
            window: at(REGISTERS + 0x80, 0x100)
        })
    );
    assert_eq!(
        refused(at(0xFFFF_F000, 0x2000), memory_window()),
        Err(BarError::Misaligned {
            bar: 0,
            window: at(0xFFFF_F000, 0x2000)
        })
    );
    assert_eq!(
        refused(at(0x1_0000_0000, 0x1000), memory_window()),
        Err(BarError::Above4GiB {
            bar: 0,
            window: at(0x1_0000_0000, 0x1000)
        })
    );
    assert_eq!(
        refused(registers_window(), at(0x4010_0000, MEMORY_SIZE)),
        Err(BarError::Misaligned {
            bar: 2,
            window: at(0x4010_0000, MEMORY_SIZE)
        })
    );
    assert_eq!(
        refused(registers_window(), at(MEMORY, 0)),
        Err(BarError::BadSize { bar: 2, size: 0 })
    );
    assert!(refused(registers_window(), at(0x80_0000_0000, 1 << 36)).is_ok());
    let message = BarError::Misaligned {
        bar: 2,
        window: at(0x4010_0000, MEMORY_SIZE),
    }
    .to_string();
    assert!(
        message.contains("BAR2") && message.contains("0x40100000"),
        "{message}"
    );
}

#[test]
fn command_keeps_memory_bus_master_and_intx_disable_only() {
    let (mut function, _) = endpoint_pair();
    assert!(!function.write(0x04, Width::Half, 0xFFFF));
    assert_eq!(function.read(0x04, Width::Half), 0x0406);
    assert!(!function.write(0x05, Width::Byte, 0x00));
    assert_eq!(function.read(0x04, Width::Half), 0x0006);
    assert!(!function.write(0x04, Width::Byte, 0x01));
    assert_eq!(function.read(0x04, Width::Half), 0x0000, "no I/O decode");
    // Status takes no writes.
    assert!(!function.write(0x04, Width::Word, 0xFFFF_0002));
    assert_eq!(function.read(0x04, Width::Word), 0x0000_0002);
    assert!(!function.write(0x06, Width::Half, 0xFFFF));
    assert_eq!(function.read(0x04, Width::Word), 0x0000_0002);
}

#[test]
fn status_bit_three_follows_the_line_before_masking() {
    let (mut function, registers) = endpoint_pair();
    assert_eq!(function.read(0x06, Width::Half), 0);
    assert!(!registers.ring(), "masked by INTR_MASK");
    assert_eq!(
        function.read(0x06, Width::Half),
        0,
        "masked in the device: not asserted"
    );
    let _ = registers.write(0x00, Width::Word, 1);
    assert_eq!(function.read(0x06, Width::Half), 0x08);
    assert!(!function.write(0x04, Width::Half, 0x0400));
    assert_eq!(
        function.read(0x04, Width::Word),
        0x0008_0400,
        "INTx Disable does not hide it"
    );
    assert_eq!(registers.read(0x04, Width::Word), 1);
    assert_eq!(function.read(0x06, Width::Half), 0);
}

#[test]
fn intx_disable_really_masks() {
    let (mut function, registers) = endpoint_pair();
    assert!(!registers.write(0x00, Width::Word, 1).raise);
    assert!(!function.write(0x04, Width::Half, 0x0406));
    assert!(!registers.ring(), "ring while INTx is disabled: no raise");
    assert_eq!(function.read(0x06, Width::Half) & 0x08, 0x08);
    assert!(function.write(0x04, Width::Half, 0x0006), "unmask: raise");
    assert!(!function.write(0x04, Width::Half, 0x0006), "once");
    assert!(!registers.ring(), "still up");
    assert!(!function.write(0x05, Width::Byte, 0x04), "masking lowers");
    assert!(!function.line().asserted());
    assert!(
        function.write(0x05, Width::Byte, 0x00),
        "unmasking again raises again"
    );
}

#[test]
fn interrupt_line_is_a_virtual_byte() {
    let (mut function, _) = endpoint_pair();
    assert!(!function.write(0x3C, Width::Byte, 0x2A));
    assert!(!function.write(0x3D, Width::Byte, 0x04));
    assert_eq!(function.read(0x3C, Width::Word), 0x0000_012A);
    assert!(!function.write(0x3C, Width::Word, 0xFFFF_FF17));
    assert_eq!(function.read(0x3C, Width::Half), 0x0117);
}

#[test]
fn misaligned_and_out_of_range_read_all_ones_and_are_ignored() {
    let (mut function, _) = endpoint_pair();
    assert_eq!(function.read(0x01, Width::Half), 0xFFFF);
    assert_eq!(function.read(0x02, Width::Word), 0xFFFF_FFFF);
    assert_eq!(function.read(0x04, Width::Double), 0xFFFF_FFFF_FFFF_FFFF);
    assert_eq!(function.read(0x1000, Width::Byte), 0xFF);
    assert!(!function.write(0x03, Width::Half, 0xFFFF));
    assert!(!function.write(0x02, Width::Word, 0xFFFF_FFFF));
    assert_eq!(function.read(0x04, Width::Word), 0);
    assert!(!function.write(0x3A, Width::Word, 0xFFFF_FFFF));
    assert_eq!(function.read(0x3C, Width::Byte), 0);
    // Extended space reads 0 and ignores writes.
    assert!(!function.write(0x100, Width::Word, 0xFFFF_FFFF));
    assert_eq!(function.read(0x100, Width::Word), 0);
    assert_eq!(function.read(0xFFC, Width::Word), 0);
}

#[test]
fn reset_clears_command_line_and_probes() {
    let (mut function, registers) = endpoint_pair();
    assert!(!function.write(0x04, Width::Half, 0x0406));
    assert!(!function.write(0x3C, Width::Byte, 0x2A));
    assert!(!function.write(0x10, Width::Word, 0xFFFF_FFFF));
    assert!(!registers.write(0x00, Width::Word, 1).raise);
    assert!(!registers.ring());
    function.reset();
    assert_eq!(function.read(0x04, Width::Word), 0);
    assert_eq!(function.read(0x3C, Width::Byte), 0);
    assert_eq!(function.read(0x10, Width::Word), REGISTERS);
    assert_eq!(registers.read(0x00, Width::Word), 0, "mask 0");
    assert_eq!(registers.read(0x04, Width::Word), 0, "status 0");
    assert!(!registers.line().asserted());
}
