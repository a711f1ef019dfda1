//! PL011 receive side for interrupt tests: loopback, receive interrupts, draining the FIFO.

use crate::gic::{read32, write32};

/// Data register.
const DR: u64 = 0x00;
/// Flag register.
const FR: u64 = 0x18;
/// Line control register.
const LCR_H: u64 = 0x2c;
/// Control register.
const CR: u64 = 0x30;
/// Interrupt mask set/clear register.
const IMSC: u64 = 0x38;
/// Masked interrupt status.
const MIS: u64 = 0x40;
/// Interrupt clear register.
const ICR: u64 = 0x44;

/// FR: receive FIFO empty.
const FR_RXFE: u32 = 1 << 4;
/// FR: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// LCR_H: FIFOs enabled.
const LCR_H_FEN: u32 = 1 << 4;
/// CR: UART enable, loopback, transmit and receive enable.
const CR_UARTEN: u32 = 1 << 0;
const CR_LBE: u32 = 1 << 7;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;
/// IMSC/MIS/ICR: receive and receive-timeout interrupts.
pub const INT_RX: u32 = 1 << 4;
pub const INT_RT: u32 = 1 << 6;
/// Every interrupt bit ICR clears.
const INT_ALL: u32 = 0x7ff;

/// A PL011 at `base` (an IPA of the identity map's Device window the guest owns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pl011 {
    pub base: u64,
}

impl Pl011 {
    /// Loopback on or off, with the FIFOs off (one interrupt per received
    /// character) and UART, transmitter and receiver enabled.
    pub fn set_loopback(&self, on: bool) {
        write32(self.base + LCR_H, read32(self.base + LCR_H) & !LCR_H_FEN);
        let enable = CR_UARTEN | CR_TXE | CR_RXE;
        write32(self.base + CR, if on { enable | CR_LBE } else { enable });
    }

    /// Unmasks exactly the interrupts in `mask` (IMSC), after clearing any raised ones.
    pub fn set_interrupt_mask(&self, mask: u32) {
        write32(self.base + ICR, INT_ALL);
        write32(self.base + IMSC, mask);
    }

    /// MIS: raised and unmasked interrupts.
    pub fn masked_status(&self) -> u32 {
        read32(self.base + MIS)
    }

    /// Transmits one byte (looped back into the receiver with loopback on).
    pub fn write_byte(&self, byte: u8) {
        while read32(self.base + FR) & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        write32(self.base + DR, u32::from(byte));
    }

    /// One received byte, if the receive FIFO holds any.
    pub fn read_byte(&self) -> Option<u8> {
        (read32(self.base + FR) & FR_RXFE == 0).then(|| read32(self.base + DR) as u8)
    }
}

impl Pl011 {
    /// Clears raised interrupts in `mask` (ICR).
    pub fn clear_interrupts(&self, mask: u32) {
        write32(self.base + ICR, mask);
    }
}
