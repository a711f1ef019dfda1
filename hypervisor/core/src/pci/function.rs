//! What enumeration learned about one function: identity, class, interrupt pin, BARs.

use alloc::vec::Vec;
use core::fmt;

use super::address::FunctionAddress;
use crate::address::PAGE_SIZE;

/// Which address space a BAR decodes, and how wide its address is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BarKind {
    /// A memory BAR with a 32-bit address: must live below 4 GiB.
    Memory32,
    /// A memory BAR with a 64-bit address, spread over two BAR dwords.
    Memory64,
    /// An I/O space BAR: listed, never assigned (Bulkhead gives guests no I/O space).
    Io,
}

impl fmt::Display for BarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarKind::Memory32 => "32-bit",
            BarKind::Memory64 => "64-bit",
            BarKind::Io => "I/O",
        })
    }
}

/// One Base Address Register (or pair, for 64-bit memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// BAR number 0..=5; a 64-bit BAR uses `index` and `index + 1`.
    pub index: u8,
    pub kind: BarKind,
    /// Reads have no side effects (a hint for how a guest may map it).
    pub prefetchable: bool,
    /// Bytes the BAR decodes, a power of two.
    pub size: u64,
    /// Assigned bus address (== CPU address); 0 if unassigned. I/O BARs are never assigned.
    pub address: u64,
}

impl Bar {
    /// The 4 KiB-granular range this BAR owns: at least a page, so that no two
    /// functions' BARs share a page that stage 2 maps to one partition.
    pub fn footprint(&self) -> u64 {
        self.size.max(PAGE_SIZE)
    }
}

/// A function found by [`super::enumerate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    pub address: FunctionAddress,
    pub vendor_id: u16,
    pub device_id: u16,
    /// Base class, subclass and programming interface (24 bits).
    pub class_code: u32,
    /// Header layout without the multi-function bit: 0 endpoint, 1 bridge.
    pub header_type: u8,
    /// 0 none, 1..=4 for INTA..INTD.
    pub interrupt_pin: u8,
    /// Implemented BARs in index order; empty for bridges (not assigned).
    pub bars: Vec<Bar>,
}

impl Function {
    /// The BAR numbered `index` (the low one of a 64-bit pair), if implemented.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|bar| bar.index == index)
    }
}
