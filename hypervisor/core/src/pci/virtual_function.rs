//! One assigned function as its partition's guest sees it: a filtered window onto the physical header.

use super::access::{self, byte_mask};
use super::address::FunctionAddress;
use super::capabilities::Capabilities;
use super::config_space::ConfigSpace;
use super::function::Function;
use super::registers::{
    BAR0, BAR_COUNT, CAPABILITY_POINTER, COMMAND, COMMAND_GUEST_WRITABLE, DEVICE_SPECIFIC,
    EXPANSION_ROM, EXTENDED, HEADER_TYPE_DWORD, INTERRUPT, STATUS_ERRORS,
};
use super::virtual_bar::VirtualBars;
use crate::vgic::Width;

/// Offset of the dword after the last BAR.
const BARS_END: u16 = BAR0 + 4 * BAR_COUNT as u16;

/// A guest's configuration space for one physical function, at the same
/// device and function number on its virtual bus 0 (so interrupt-map entries
/// match the physical ones).
///
/// The guest is assumed hostile. What it may change on the device: Command's
/// memory, bus-master, parity, SERR# and INTx-disable bits, Status's error
/// bits (write-1-to-clear), visible capabilities and device-specific space
/// 0x40-0xFF. Everything else is read through, virtual, or hidden:
/// - BARs read Bulkhead's addresses and answer size probes; moves are refused.
/// - The expansion ROM BAR reads 0 (no ROM is mapped).
/// - Interrupt Line, Cache Line Size and Latency Timer are virtual bytes that
///   read back what the guest wrote (drivers write them and some read them
///   back); they never reach the device. BIST writes are ignored.
/// - MSI and MSI-X capabilities are unlinked from the chain and read 0.
/// - Extended space (0x100-0xFFF) reads 0: no extended capability is exposed.
/// - Accesses that are not naturally aligned, or past 4 KiB, read all-ones
///   and are ignored.
///
/// The header is shown as a type-0 (endpoint) header whatever the function
/// is: bridges are not meant to be assigned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualFunction {
    address: FunctionAddress,
    bars: VirtualBars,
    capabilities: Capabilities,
    interrupt_line: u8,
    cache_line_size: u8,
    latency_timer: u8,
}

impl VirtualFunction {
    /// The guest's view of `function`, whose BARs enumeration assigned. Reads
    /// the capability list once, to learn which capabilities to hide.
    pub fn new(function: &Function, config: &mut impl ConfigSpace) -> VirtualFunction {
        VirtualFunction {
            address: function.address,
            bars: VirtualBars::new(&function.bars),
            capabilities: Capabilities::read(config, function.address),
            interrupt_line: 0,
            cache_line_size: 0,
            latency_timer: 0,
        }
    }

    /// The physical function behind this view.
    pub fn address(&self) -> FunctionAddress {
        self.address
    }

    /// The function's address on the guest's virtual bus: bus 0, same device and function.
    pub fn virtual_address(&self) -> FunctionAddress {
        FunctionAddress {
            bus: 0,
            ..self.address
        }
    }

    /// A guest read of `width` at `offset` in this function's 4 KiB.
    pub fn read(&mut self, config: &mut impl ConfigSpace, offset: u16, width: Width) -> u64 {
        access::read(offset, width, |dword| self.read_dword(config, dword))
    }

    /// A guest write of the low `width` bytes of `value` at `offset` in this function's 4 KiB.
    pub fn write(&mut self, config: &mut impl ConfigSpace, offset: u16, width: Width, value: u64) {
        access::write(offset, width, value, |dword, value, enables| {
            self.write_dword(config, dword, value, enables)
        });
    }

    /// The guest's view of the dword at `offset` (4-aligned, below 4 KiB).
    fn read_dword(&self, config: &mut impl ConfigSpace, offset: u16) -> u32 {
        match offset {
            BAR0..BARS_END => self.bars.read(usize::from((offset - BAR0) / 4)),
            EXPANSION_ROM => 0,
            HEADER_TYPE_DWORD => {
                let physical = config.read32(self.address, offset);
                (physical & 0xFFFF_0000)
                    | (u32::from(self.latency_timer) << 8)
                    | u32::from(self.cache_line_size)
            }
            CAPABILITY_POINTER => {
                let physical = config.read32(self.address, offset);
                (physical & !0xFF) | u32::from(self.capabilities.pointer())
            }
            INTERRUPT => {
                let physical = config.read32(self.address, offset);
                (physical & !0xFF) | u32::from(self.interrupt_line)
            }
            DEVICE_SPECIFIC..EXTENDED => {
                if self.capabilities.hidden(offset) {
                    0
                } else {
                    let physical = config.read32(self.address, offset);
                    self.capabilities.view(offset, physical)
                }
            }
            EXTENDED.. => 0,
            _ => config.read32(self.address, offset),
        }
    }

    /// A guest write to the dword at `offset`: `value` already shifted into
    /// place, `enables` the bytes written (bit n for byte n).
    fn write_dword(&mut self, config: &mut impl ConfigSpace, offset: u16, value: u32, enables: u8) {
        match offset {
            COMMAND => self.write_command_status(config, value, enables),
            BAR0..BARS_END => {
                self.bars
                    .write(usize::from((offset - BAR0) / 4), value, enables == 0b1111)
            }
            HEADER_TYPE_DWORD => {
                if enables & 0b01 != 0 {
                    self.cache_line_size = value as u8;
                }
                if enables & 0b10 != 0 {
                    self.latency_timer = (value >> 8) as u8;
                }
            }
            INTERRUPT if enables & 0b01 != 0 => self.interrupt_line = value as u8,
            DEVICE_SPECIFIC..EXTENDED if !self.capabilities.hidden(offset) => {
                pass_through(config, self.address, offset, value, enables);
            }
            _ => {}
        }
    }

    /// Command keeps every bit the guest may not change at its physical value;
    /// Status gets only the error bits the guest writes 1 to (clearing them).
    /// The dword is written whole with the other Status bits 0, since writing
    /// Status back as read would clear every error bit that is set.
    fn write_command_status(&mut self, config: &mut impl ConfigSpace, value: u32, enables: u8) {
        let written = value & byte_mask(enables);
        let physical_command = config.read32(self.address, COMMAND) as u16;
        let command_bytes = byte_mask(enables) as u16;
        let requested = (physical_command & !command_bytes) | written as u16;
        let command =
            (physical_command & !COMMAND_GUEST_WRITABLE) | (requested & COMMAND_GUEST_WRITABLE);
        let status = (written >> 16) as u16 & STATUS_ERRORS;
        config.write32(
            self.address,
            COMMAND,
            u32::from(command) | (u32::from(status) << 16),
        );
    }
}

/// Writes the enabled bytes of `value` to the device with the guest's own width.
fn pass_through(
    config: &mut impl ConfigSpace,
    address: FunctionAddress,
    offset: u16,
    value: u32,
    enables: u8,
) {
    match enables {
        0b1111 => config.write32(address, offset, value),
        0b0011 => config.write16(address, offset, value as u16),
        0b1100 => config.write16(address, offset + 2, (value >> 16) as u16),
        0b0001 => config.write8(address, offset, value as u8),
        0b0010 => config.write8(address, offset + 1, (value >> 8) as u8),
        0b0100 => config.write8(address, offset + 2, (value >> 16) as u8),
        0b1000 => config.write8(address, offset + 3, (value >> 24) as u8),
        _ => {}
    }
}
