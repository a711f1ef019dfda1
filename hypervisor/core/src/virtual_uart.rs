//! The virtual PL011 a partition without a UART of its own gets: the register model, with no I/O of its own.
//!
//! Transmit never fills: every byte written to DR is handed back to the
//! caller at once (it goes to the partition's console ring, which drops and
//! counts when full), so FR never shows TXFF or BUSY and TXRIS is raised
//! after each write, as QEMU's PL011 does. Receive is a bounded FIFO fed by
//! Bulkhead's console input; RXRIS and RTRIS follow whether it holds
//! anything (Linux reads until RXFE rather than clearing them). Loopback
//! (CR.LBE) sends written bytes to the receive FIFO instead. Unknown
//! offsets read as zero and ignore writes; any access width is taken (Linux
//! uses 16-bit accesses on `arm,pl011`).

use crate::vgic::Width;

/// Bytes the receive FIFO holds (a real PL011 has 16; more costs nothing).
pub const RX_FIFO_BYTES: usize = 32;

/// Register offsets (PrimeCell UART (PL011) TRM, 3.2).
pub mod offset {
    pub const DR: u64 = 0x000;
    pub const RSR_ECR: u64 = 0x004;
    pub const FR: u64 = 0x018;
    pub const ILPR: u64 = 0x020;
    pub const IBRD: u64 = 0x024;
    pub const FBRD: u64 = 0x028;
    pub const LCR_H: u64 = 0x02c;
    pub const CR: u64 = 0x030;
    pub const IFLS: u64 = 0x034;
    pub const IMSC: u64 = 0x038;
    pub const RIS: u64 = 0x03c;
    pub const MIS: u64 = 0x040;
    pub const ICR: u64 = 0x044;
    pub const DMACR: u64 = 0x048;
    /// First of the eight peripheral and PrimeCell ID registers.
    pub const ID: u64 = 0xfe0;
}

/// FR: receive FIFO empty.
pub const FR_RXFE: u32 = 1 << 4;
/// FR: transmit FIFO full (never set here).
pub const FR_TXFF: u32 = 1 << 5;
/// FR: receive FIFO full.
pub const FR_RXFF: u32 = 1 << 6;
/// FR: transmit FIFO empty (always set here).
pub const FR_TXFE: u32 = 1 << 7;
/// Interrupt bits (RIS, IMSC, MIS, ICR).
pub const INT_RX: u32 = 1 << 4;
pub const INT_TX: u32 = 1 << 5;
pub const INT_RT: u32 = 1 << 6;
/// Every interrupt bit a PL011 has.
pub const INT_ALL: u32 = 0x7ff;
/// CR: loopback enable.
pub const CR_LBE: u32 = 1 << 7;
/// CR after reset: transmitter and receiver enabled, UART disabled.
const CR_RESET: u32 = 0x300;
/// IFLS after reset: both FIFOs at half.
const IFLS_RESET: u32 = 0x12;
/// Peripheral ID 0-3 (PL011 r1p5) then PrimeCell ID 0-3, as QEMU's.
const ID_BYTES: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// One virtual PL011's registers and receive FIFO.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualPl011 {
    rx: [u8; RX_FIFO_BYTES],
    rx_head: usize,
    rx_len: usize,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    imsc: u32,
    dmacr: u32,
    /// TXRIS: set by every write to DR, cleared by ICR.
    tx_raised: bool,
    /// Input bytes the full FIFO refused.
    rx_dropped: u64,
}

impl Default for VirtualPl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualPl011 {
    pub const fn new() -> Self {
        VirtualPl011 {
            rx: [0; RX_FIFO_BYTES],
            rx_head: 0,
            rx_len: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            imsc: 0,
            dmacr: 0,
            tx_raised: false,
            rx_dropped: 0,
        }
    }

    /// Back to the reset state (partition restart); the drop count stays.
    pub fn reset(&mut self) {
        let dropped = self.rx_dropped;
        *self = Self::new();
        self.rx_dropped = dropped;
    }

    /// Raw interrupt status.
    pub fn raw_status(&self) -> u32 {
        let rx = if self.rx_len > 0 { INT_RX | INT_RT } else { 0 };
        let tx = if self.tx_raised { INT_TX } else { 0 };
        rx | tx
    }

    /// Whether its interrupt line is asserted (some raised bit unmasked).
    pub fn interrupt_level(&self) -> bool {
        self.raw_status() & self.imsc != 0
    }

    /// Input bytes dropped because the guest did not read its FIFO.
    pub fn rx_dropped(&self) -> u64 {
        self.rx_dropped
    }

    /// Bytes waiting in the receive FIFO.
    pub fn rx_len(&self) -> usize {
        self.rx_len
    }

    /// Puts an input byte in the receive FIFO; false (and counted) if full.
    pub fn receive(&mut self, byte: u8) -> bool {
        if self.rx_len >= RX_FIFO_BYTES {
            self.rx_dropped = self.rx_dropped.saturating_add(1);
            return false;
        }
        self.rx[(self.rx_head + self.rx_len) % RX_FIFO_BYTES] = byte;
        self.rx_len += 1;
        true
    }

    fn pop_rx(&mut self) -> Option<u8> {
        if self.rx_len == 0 {
            return None;
        }
        let byte = self.rx[self.rx_head];
        self.rx_head = (self.rx_head + 1) % RX_FIFO_BYTES;
        self.rx_len -= 1;
        Some(byte)
    }

    fn flags(&self) -> u32 {
        let mut flags = FR_TXFE;
        if self.rx_len == 0 {
            flags |= FR_RXFE;
        }
        if self.rx_len >= RX_FIFO_BYTES {
            flags |= FR_RXFF;
        }
        flags
    }

    /// A guest read at `offset` (inside the 4 KiB frame).
    pub fn read(&mut self, offset: u64, width: Width) -> u64 {
        let value = match offset & !3 {
            offset::DR => self.pop_rx().map_or(0, u32::from),
            offset::FR => self.flags(),
            offset::ILPR => self.ilpr,
            offset::IBRD => self.ibrd,
            offset::FBRD => self.fbrd,
            offset::LCR_H => self.lcr_h,
            offset::CR => self.cr,
            offset::IFLS => self.ifls,
            offset::IMSC => self.imsc,
            offset::RIS => self.raw_status(),
            offset::MIS => self.raw_status() & self.imsc,
            offset::DMACR => self.dmacr,
            id if (offset::ID..offset::ID + 0x20).contains(&id) => {
                let index = ((id - offset::ID) / 4) as usize;
                ID_BYTES.get(index).copied().map_or(0, u32::from)
            }
            _ => 0,
        };
        // A narrower access at an unaligned offset sees the register's
        // bytes from that offset, as the bus would.
        let shift = (offset & 3) * 8;
        let value = u64::from(value) >> shift;
        match width {
            Width::Byte => value & 0xff,
            Width::Half => value & 0xffff,
            Width::Word | Width::Double => value,
        }
    }

    /// A guest write at `offset`; returns the byte to transmit, if any.
    pub fn write(&mut self, offset: u64, width: Width, value: u64) -> Option<u8> {
        let mask = match width {
            Width::Byte => 0xff,
            Width::Half => 0xffff,
            Width::Word | Width::Double => 0xffff_ffff,
        };
        // Only aligned accesses name a whole register; others are ignored.
        if offset & 3 != 0 {
            return None;
        }
        let value = (value & mask) as u32;
        match offset {
            offset::DR => {
                let byte = value as u8;
                self.tx_raised = true;
                if self.cr & CR_LBE != 0 {
                    self.receive(byte);
                    return None;
                }
                return Some(byte);
            }
            offset::RSR_ECR => {}
            offset::ILPR => self.ilpr = value & 0xff,
            offset::IBRD => self.ibrd = value & 0xffff,
            offset::FBRD => self.fbrd = value & 0x3f,
            offset::LCR_H => self.lcr_h = value & 0xff,
            offset::CR => self.cr = value & 0xff87,
            offset::IFLS => self.ifls = value & 0x3f,
            offset::IMSC => self.imsc = value & INT_ALL,
            offset::ICR if value & INT_TX != 0 => self.tx_raised = false,
            offset::DMACR => self.dmacr = value & 0x7,
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmit_hands_bytes_back_and_raises_tx() {
        let mut uart = VirtualPl011::new();
        assert_eq!(uart.write(offset::DR, Width::Half, 0x41), Some(b'A'));
        assert_eq!(uart.raw_status(), INT_TX);
        assert!(!uart.interrupt_level(), "masked");
        uart.write(offset::IMSC, Width::Word, u64::from(INT_TX));
        assert!(uart.interrupt_level());
        uart.write(offset::ICR, Width::Word, u64::from(INT_TX));
        assert!(!uart.interrupt_level());
        let flags = uart.read(offset::FR, Width::Word) as u32;
        assert_eq!(flags & (FR_TXFF | FR_TXFE | FR_RXFE), FR_TXFE | FR_RXFE);
    }

    #[test]
    fn receive_fifo_bounds_and_counts() {
        let mut uart = VirtualPl011::new();
        uart.write(offset::IMSC, Width::Word, u64::from(INT_RX | INT_RT));
        assert!(!uart.interrupt_level());
        for byte in 0..RX_FIFO_BYTES as u8 {
            assert!(uart.receive(byte));
        }
        assert!(!uart.receive(0xff));
        assert_eq!(uart.rx_dropped(), 1);
        assert!(uart.interrupt_level());
        assert_ne!(uart.read(offset::FR, Width::Word) as u32 & FR_RXFF, 0);
        for byte in 0..RX_FIFO_BYTES as u64 {
            assert_eq!(uart.read(offset::DR, Width::Word), byte);
        }
        assert_ne!(uart.read(offset::FR, Width::Word) as u32 & FR_RXFE, 0);
        assert!(!uart.interrupt_level());
        assert_eq!(uart.read(offset::DR, Width::Word), 0, "empty FIFO reads 0");
    }

    #[test]
    fn loopback_goes_to_the_receiver() {
        let mut uart = VirtualPl011::new();
        uart.write(offset::CR, Width::Word, u64::from(CR_LBE | 0x301));
        assert_eq!(uart.write(offset::DR, Width::Word, 0x5a), None);
        assert_eq!(uart.read(offset::DR, Width::Byte), 0x5a);
    }

    #[test]
    fn identification_is_a_pl011() {
        let mut uart = VirtualPl011::new();
        let id: Vec<u64> = (0..8)
            .map(|i| uart.read(offset::ID + 4 * i, Width::Word))
            .collect();
        assert_eq!(id, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    }

    #[test]
    fn junk_at_every_offset_never_panics_nor_transmits_off_dr() {
        let mut uart = VirtualPl011::new();
        for offset in 0..0x1000u64 {
            for width in [Width::Byte, Width::Half, Width::Word, Width::Double] {
                let sent = uart.write(offset, width, u64::MAX);
                assert!(sent.is_none() || offset == offset::DR, "{offset:#x}");
                let _ = uart.read(offset, width);
            }
        }
        uart.reset();
        assert_eq!(uart.read(offset::CR, Width::Word), u64::from(CR_RESET));
    }
}
