//! Configuration header register offsets and bits, as the PCI Local Bus and PCIe specifications define them.

/// Vendor ID (low half) and Device ID (high half).
pub(super) const ID: u16 = 0x00;
/// Command (low half) and Status (high half).
pub(super) const COMMAND: u16 = 0x04;
/// Revision ID (byte 0) and 24-bit class code (bytes 1-3).
pub(super) const CLASS_REVISION: u16 = 0x08;
/// Cache line size, latency timer, header type, BIST (bytes 0-3).
pub(super) const HEADER_TYPE_DWORD: u16 = 0x0C;
/// Base Address Register 0; BARs are consecutive dwords.
pub(super) const BAR0: u16 = 0x10;
/// Base Address Registers in a type-0 header.
pub(super) const BAR_COUNT: u8 = 6;
/// Expansion ROM base address in a type-0 header.
pub(super) const EXPANSION_ROM: u16 = 0x30;
/// Capabilities pointer (byte 0).
pub(super) const CAPABILITY_POINTER: u16 = 0x34;
/// Interrupt line, interrupt pin, Min_Gnt, Max_Lat (bytes 0-3).
pub(super) const INTERRUPT: u16 = 0x3C;
/// First byte after the standard header: device-specific space and capabilities.
pub(super) const DEVICE_SPECIFIC: u16 = 0x40;
/// First byte of PCIe extended configuration space.
pub(super) const EXTENDED: u16 = 0x100;
/// Bytes of configuration space per function.
pub(super) const CONFIG_SIZE: u16 = 0x1000;

/// Command: I/O space decode.
pub(super) const COMMAND_IO: u16 = 1 << 0;
/// Command: memory space decode.
pub(super) const COMMAND_MEMORY: u16 = 1 << 1;
/// Command: bus master (DMA and MSI).
pub(super) const COMMAND_BUS_MASTER: u16 = 1 << 2;
/// Command: parity error response.
pub(super) const COMMAND_PARITY: u16 = 1 << 6;
/// Command: SERR# enable.
pub(super) const COMMAND_SERR: u16 = 1 << 8;
/// Command: INTx emulation disable.
pub(super) const COMMAND_INTX_DISABLE: u16 = 1 << 10;
/// Command bits a guest may change: everything a driver needs, and not I/O decode (never assigned).
pub(super) const COMMAND_GUEST_WRITABLE: u16 =
    COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_PARITY | COMMAND_SERR | COMMAND_INTX_DISABLE;
/// Command bits enumeration turns off: no decode and no DMA until the owner enables them.
pub(super) const COMMAND_DECODE: u16 = COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER;

/// Status: the function has a capability list.
pub(super) const STATUS_CAPABILITIES: u16 = 1 << 4;
/// Status bits that are write-1-to-clear error flags (master data parity
/// error, signaled/received target abort, received master abort, signaled
/// system error, detected parity error).
pub(super) const STATUS_ERRORS: u16 = (1 << 8) | 0xF800;

/// Header type: the device has more than one function.
pub(super) const HEADER_MULTI_FUNCTION: u8 = 0x80;
/// Header type: the layout (0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus bridge).
pub(super) const HEADER_LAYOUT: u8 = 0x7f;
/// Header layout of an endpoint, the only one whose BARs are assigned.
pub(super) const HEADER_ENDPOINT: u8 = 0;

/// BAR bit 0: 1 for I/O space, 0 for memory.
pub(super) const BAR_IO: u32 = 1 << 0;
/// BAR bits 2:1 of a memory BAR: its type.
pub(super) const BAR_MEMORY_TYPE: u32 = 0b110;
/// Memory BAR type: 32-bit.
pub(super) const BAR_MEMORY_32: u32 = 0b000;
/// Memory BAR type: below 1 MiB (PCI 2.x legacy), handled as 32-bit.
pub(super) const BAR_MEMORY_BELOW_1M: u32 = 0b010;
/// Memory BAR type: 64-bit, a pair of dwords.
pub(super) const BAR_MEMORY_64: u32 = 0b100;
/// BAR bit 3 of a memory BAR: prefetchable.
pub(super) const BAR_PREFETCHABLE: u32 = 1 << 3;
/// Address bits of a memory BAR's low dword.
pub(super) const BAR_MEMORY_ADDRESS: u32 = !0xF;
/// Address bits of an I/O BAR.
pub(super) const BAR_IO_ADDRESS: u32 = !0x3;

/// Capability ID of MSI.
pub(super) const CAPABILITY_MSI: u8 = 0x05;
/// Capability ID of MSI-X.
pub(super) const CAPABILITY_MSIX: u8 = 0x11;
/// MSI message control: 64-bit message address.
pub(super) const MSI_64_BIT: u16 = 1 << 7;
/// MSI message control: per-vector masking (adds mask and pending dwords).
pub(super) const MSI_PER_VECTOR_MASK: u16 = 1 << 8;
/// Bytes of an MSI-X capability: header, table and PBA dwords.
pub(super) const MSIX_LENGTH: u16 = 12;
