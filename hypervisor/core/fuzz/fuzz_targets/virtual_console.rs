//! Fuzz target: a hostile guest's accesses to its virtual PL011, interleaved with console input, never panic and keep the model's promises.
//!
//! The input is a sequence of steps (10 bytes each: kind, offset, width,
//! value) against one `VirtualPl011` and one console input `Focus` over
//! three partitions: a register read or write at any offset and width, a
//! byte typed on Bulkhead's console (through the focus: delivered to the
//! model only when partition 0 has it), or a partition reset. After every
//! step: FR never shows the transmit FIFO full or empty-flag lies about the
//! receive FIFO, the interrupt line is exactly "raised and unmasked", only
//! a DR write transmits (or, in loopback, is received), and the receive
//! FIFO never holds more than its capacity (what does not fit, typed or
//! looped back, is counted, not lost silently).
#![no_main]

use bulkhead_core::console_input::{Focus, Input};
use bulkhead_core::vgic::Width;
use bulkhead_core::virtual_uart::{
    offset, VirtualPl011, CR_LBE, FR_RXFE, FR_TXFE, FR_TXFF, RX_FIFO_BYTES,
};
use libfuzzer_sys::fuzz_target;

const STEP: usize = 10;

fn width(byte: u8) -> Width {
    match byte % 4 {
        0 => Width::Byte,
        1 => Width::Half,
        2 => Width::Word,
        _ => Width::Double,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut uart = VirtualPl011::new();
    let mut focus = Focus::new(3);
    let mut received: u64 = 0;
    for step in data.chunks_exact(STEP) {
        let offset = u64::from(u16::from_le_bytes([step[1], step[2]])) % 0x1000;
        let width = width(step[3]);
        let value = u64::from_le_bytes(step[2..10].try_into().unwrap_or([0; 8]));
        match step[0] % 4 {
            0 => {
                let _ = uart.read(offset, width);
            }
            1 => {
                // In loopback a DR write is received (and counted if dropped).
                let loopback = uart.read(offset::CR, Width::Word) as u32 & CR_LBE != 0;
                let sent = uart.write(offset, width, value);
                assert!(sent.is_none() || offset == offset::DR, "transmit off DR at {offset:#x}");
                if loopback && offset == offset::DR {
                    assert!(sent.is_none(), "loopback transmits nothing");
                    received += 1;
                }
            }
            2 => {
                if let Input::Deliver(target, bytes, len) = focus.feed(step[4]) {
                    assert!(target < 3 && (1..=bytes.len()).contains(&len));
                    if target == 0 {
                        for &byte in &bytes[..len] {
                            received += 1;
                            uart.receive(byte);
                        }
                    }
                }
            }
            _ => uart.reset(),
        }
        let flags = uart.read(offset::FR, Width::Word) as u32;
        assert_eq!(flags & FR_TXFF, 0, "the transmit FIFO never fills");
        assert_ne!(flags & FR_TXFE, 0);
        assert_eq!(flags & FR_RXFE != 0, uart.rx_len() == 0);
        assert!(uart.rx_len() <= RX_FIFO_BYTES);
        assert!(uart.rx_dropped() <= received);
        let mask = uart.read(offset::IMSC, Width::Word) as u32;
        assert_eq!(uart.interrupt_level(), uart.raw_status() & mask != 0);
        assert_eq!(
            uart.read(offset::MIS, Width::Word) as u32,
            uart.raw_status() & mask
        );
    }
});
