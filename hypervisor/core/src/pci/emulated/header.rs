//! The type-0 configuration header of a function Bulkhead emulates: fixed identity and BARs, a few guest bits.

use alloc::vec::Vec;
use core::fmt;

use super::super::access::{self, byte_mask};
use super::super::function::{Bar, BarKind};
use super::super::registers::{
    BAR0, BAR_COUNT, CLASS_REVISION, COMMAND, COMMAND_BUS_MASTER, COMMAND_INTX_DISABLE,
    COMMAND_MEMORY, ID, INTERRUPT,
};
use super::super::virtual_bar::VirtualBars;
use super::intx::IntxLine;
use crate::address::Ipa;
use crate::vgic::Width;

/// Offset of the dword after the last BAR.
const BARS_END: u16 = BAR0 + 4 * BAR_COUNT as u16;
/// Subsystem Vendor ID (low half) and Subsystem ID (high half).
const SUBSYSTEM: u16 = 0x2C;
/// Command bits that read back what the guest wrote; the others read 0.
const COMMAND_KEPT: u16 = COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE;
/// Status bit 3: the function asserts INTx (before Command bit 10 masks it).
const STATUS_INTERRUPT: u32 = 1 << 3;
/// Interrupt Pin: INTA.
const PIN_INTA: u32 = 1;
/// Smallest memory BAR: its low 4 bits are type bits.
const MIN_BAR_SIZE: u64 = 16;

/// What an emulated function says it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub vendor_id: u16,
    pub device_id: u16,
    pub revision: u8,
    /// Base class, subclass and programming interface (24 bits).
    pub class_code: u32,
    pub subsystem_vendor_id: u16,
    pub subsystem_id: u16,
}

/// Where Bulkhead placed one of an emulated function's BARs in the guest's
/// IPA space, and how many bytes it decodes (a power of two, at least 16,
/// the address aligned to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarWindow {
    pub address: Ipa,
    pub size: u64,
}

/// Why a BAR cannot be shown to a guest; `Display` is a sentence naming the BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// The size is not a power of two of at least 16 bytes.
    BadSize { bar: u8, size: u64 },
    /// The address is not a multiple of the size (PCI BARs are naturally aligned).
    Misaligned { bar: u8, window: BarWindow },
    /// A 32-bit BAR that does not end below 4 GiB.
    Above4GiB { bar: u8, window: BarWindow },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BarError::BadSize { bar, size } => write!(
                f,
                "emulated BAR{bar}: size {size:#x} is not a power of two of at least 16 bytes"
            ),
            BarError::Misaligned { bar, window } => write!(
                f,
                "emulated BAR{bar}: address {:#x} is not aligned to its size {:#x}",
                window.address.0, window.size
            ),
            BarError::Above4GiB { bar, window } => write!(
                f,
                "emulated BAR{bar}: a 32-bit BAR at {:#x} of {:#x} bytes does not end below 4 GiB",
                window.address.0, window.size
            ),
        }
    }
}

/// A guest's configuration space for one emulated endpoint (header type 0,
/// single function, no capabilities, interrupt pin INTA).
///
/// - IDs, revision and class read [`Identity`]; BIST, cache line size,
///   latency timer, CardBus CIS, Min_Gnt and Max_Lat read 0.
/// - BAR0 is a 32-bit non-prefetchable memory BAR; BAR2/3, when present, a
///   64-bit prefetchable one. Size probes work, moves are refused (as for
///   assigned functions); the BARs decode whatever Command says, since
///   stage 2 maps or traps them permanently.
/// - Command: memory, bus-master and INTx Disable read back what the guest
///   wrote, the rest 0. INTx Disable masks the function's [`IntxLine`].
/// - Status: bit 3 is the line before masking ([`IntxLine::pending`]); no
///   capability list, no error bits.
/// - Interrupt Line reads back what the guest wrote.
/// - Expansion ROM, capability pointer, device-specific and extended space
///   read 0 and ignore writes.
/// - Accesses that are not naturally aligned, or past 4 KiB, read all-ones
///   and are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::pci) struct EmulatedHeader {
    identity: Identity,
    bars: VirtualBars,
    command: u16,
    interrupt_line: u8,
}

impl EmulatedHeader {
    /// A header with BAR0 at `registers` and, if given, BAR2/3 at `memory`.
    pub(in crate::pci) fn new(
        identity: Identity,
        registers: BarWindow,
        memory: Option<BarWindow>,
    ) -> Result<EmulatedHeader, BarError> {
        check(0, registers)?;
        if registers.address.0.saturating_add(registers.size) > 1 << 32 {
            return Err(BarError::Above4GiB {
                bar: 0,
                window: registers,
            });
        }
        let mut bars = Vec::with_capacity(2);
        bars.push(Bar {
            index: 0,
            kind: BarKind::Memory32,
            prefetchable: false,
            size: registers.size,
            address: registers.address.0,
        });
        if let Some(memory) = memory {
            check(2, memory)?;
            bars.push(Bar {
                index: 2,
                kind: BarKind::Memory64,
                prefetchable: true,
                size: memory.size,
                address: memory.address.0,
            });
        }
        Ok(EmulatedHeader {
            identity,
            bars: VirtualBars::new(&bars),
            command: 0,
            interrupt_line: 0,
        })
    }

    /// A guest read of `width` at `offset`; Status bit 3 from `line`.
    pub(in crate::pci) fn read(&self, offset: u16, width: Width, line: &IntxLine) -> u64 {
        access::read(offset, width, |dword| self.read_dword(dword, line))
    }

    /// A guest write of the low `width` bytes of `value` at `offset`.
    /// Returns whether `line` rose (INTx Disable cleared with an event pending).
    pub(in crate::pci) fn write(
        &mut self,
        offset: u16,
        width: Width,
        value: u64,
        line: &IntxLine,
    ) -> bool {
        let mut raise = false;
        access::write(offset, width, value, |dword, value, enables| {
            raise |= self.write_dword(dword, value, enables, line);
        });
        raise
    }

    /// Partition restart: Command and Interrupt Line 0, no size probe under way.
    pub(in crate::pci) fn reset(&mut self) {
        self.command = 0;
        self.interrupt_line = 0;
        for index in 0..usize::from(BAR_COUNT) {
            self.bars.write(index, 0, false);
        }
    }

    /// The dword at `offset` (4-aligned, below 4 KiB).
    fn read_dword(&self, offset: u16, line: &IntxLine) -> u32 {
        let identity = &self.identity;
        match offset {
            ID => u32::from(identity.vendor_id) | (u32::from(identity.device_id) << 16),
            COMMAND => {
                let status = if line.pending() { STATUS_INTERRUPT } else { 0 };
                u32::from(self.command) | (status << 16)
            }
            CLASS_REVISION => {
                u32::from(identity.revision) | ((identity.class_code & 0xFF_FFFF) << 8)
            }
            BAR0..BARS_END => self.bars.read(usize::from((offset - BAR0) / 4)),
            SUBSYSTEM => {
                u32::from(identity.subsystem_vendor_id) | (u32::from(identity.subsystem_id) << 16)
            }
            INTERRUPT => u32::from(self.interrupt_line) | (PIN_INTA << 8),
            _ => 0,
        }
    }

    /// A write to the dword at `offset`: `value` shifted into place, `enables`
    /// the bytes written. Returns whether `line` rose.
    fn write_dword(&mut self, offset: u16, value: u32, enables: u8, line: &IntxLine) -> bool {
        match offset {
            COMMAND if enables & 0b11 != 0 => {
                let written = byte_mask(enables & 0b11);
                let command = (u32::from(self.command) & !written) | (value & written);
                self.command = command as u16 & COMMAND_KEPT;
                line.set_intx_disabled(self.command & COMMAND_INTX_DISABLE != 0)
            }
            BAR0..BARS_END => {
                self.bars
                    .write(usize::from((offset - BAR0) / 4), value, enables == 0b1111);
                false
            }
            INTERRUPT if enables & 0b01 != 0 => {
                self.interrupt_line = value as u8;
                false
            }
            _ => false,
        }
    }
}

/// Refuses a BAR a guest could not be shown truthfully.
fn check(bar: u8, window: BarWindow) -> Result<(), BarError> {
    if !window.size.is_power_of_two() || window.size < MIN_BAR_SIZE {
        return Err(BarError::BadSize {
            bar,
            size: window.size,
        });
    }
    if !window.address.0.is_multiple_of(window.size) {
        return Err(BarError::Misaligned { bar, window });
    }
    Ok(())
}
