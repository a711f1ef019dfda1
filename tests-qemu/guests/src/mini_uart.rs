//! The BCM2835 mini UART (the Raspberry Pi's UART1, `brcm,bcm2835-aux-uart`): transmit and its interrupt enables.
//!
//! Registers from the `reg` of its DT node (`AUX_MU_IO_REG`, 0x7e21_5040 on
//! the bus). QEMU's model (`hw/char/bcm2835_aux.c`) needs no enable or baud
//! setup and implements neither loopback nor modem control; its interrupt
//! line is high while the receive interrupt is enabled with bytes waiting,
//! or while the transmit interrupt is enabled (its transmitter is always
//! ready), which is what a guest can raise on its own.

use crate::gic::{read32, write32};

/// `compatible` of its DT node.
pub const COMPATIBLE: &str = "brcm,bcm2835-aux-uart";

/// I/O data (transmit on write, receive on read).
const IO: u64 = 0x00;
/// Interrupt enable.
const IER: u64 = 0x04;
/// Line status.
const LSR: u64 = 0x14;

/// IER: receive interrupt (bytes waiting).
pub const IER_RECEIVE: u32 = 1 << 0;
/// IER: transmit interrupt (the transmitter can take a byte).
pub const IER_TRANSMIT: u32 = 1 << 1;
/// LSR: the transmitter can take a byte.
const LSR_TX_EMPTY: u32 = 1 << 5;

/// A mini UART at `base` (its `AUX_MU_IO_REG`, an IPA of the identity map's
/// Device windows the guest owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MiniUart {
    pub base: u64,
}

impl MiniUart {
    /// Sends one byte once the transmitter can take it.
    pub fn write_byte(&self, byte: u8) {
        while read32(self.base + LSR) & LSR_TX_EMPTY == 0 {
            core::hint::spin_loop();
        }
        write32(self.base + IO, u32::from(byte));
    }

    /// Enables exactly the interrupts in `mask` ([`IER_RECEIVE`], [`IER_TRANSMIT`]).
    pub fn set_interrupt_enable(&self, mask: u32) {
        write32(self.base + IER, mask);
    }
}
