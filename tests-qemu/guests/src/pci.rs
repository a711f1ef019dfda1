//! The virtual PCI host bridge Bulkhead gives a partition with `pci-functions`: ECAM accessors, a bus-0 scan and its report lines.
//!
//! Bulkhead traps the ECAM window at [`ECAM_BASE`] (bus 0 only: offset =
//! device << 15 | function << 12 | register) and lists only the partition's
//! functions there, at their physical device/function numbers; everything
//! else reads all-ones. Every access is one aligned 32-bit `ldr`/`str`
//! without writeback, so the trap always has a valid syndrome.
//!
//! [`scan`] prints, for each function it finds,
//! `pci function 00:<dd>.<f> id=<vvvv>:<dddd> class=0x<cccccc> bar0=0x<addr> bar0_size=0x<bytes>`,
//! then `pci scan functions=<n>` and `pci msi hidden=<true|false>` (true if no
//! function's capability list holds an MSI (0x05) or MSI-X (0x11) entry).
//! Every line goes through CONSOLE_WRITE ([`crate::mark!`]).

use crate::mark;
use core::arch::asm;

/// IPA of the virtual ECAM (1 MiB: bus 0).
pub const ECAM_BASE: u64 = 0x3f00_0000;
/// Bytes of the ECAM window (32 devices × 8 functions × 4 KiB).
pub const ECAM_BYTES: u64 = 1 << 20;
/// Most functions [`scan`] records.
pub const MAX_FUNCTIONS: usize = 8;

/// Configuration-space register offsets.
pub mod reg {
    /// Vendor ID (15:0), device ID (31:16).
    pub const ID: u16 = 0x00;
    /// Command (15:0), status (31:16).
    pub const COMMAND: u16 = 0x04;
    /// Revision (7:0), class code (31:8).
    pub const CLASS: u16 = 0x08;
    /// Cache line, latency timer, header type (23:16), BIST.
    pub const HEADER: u16 = 0x0c;
    /// BAR0.
    pub const BAR0: u16 = 0x10;
    /// Capabilities pointer (7:0).
    pub const CAPABILITIES: u16 = 0x34;
    /// Interrupt line (7:0), interrupt pin (15:8).
    pub const INTERRUPT: u16 = 0x3c;
}

/// Command register: memory space decoding.
pub const COMMAND_MEMORY: u32 = 1 << 1;
/// Command register: bus master (the function may DMA).
pub const COMMAND_BUS_MASTER: u32 = 1 << 2;
/// Command register: INTx disable.
pub const COMMAND_INTX_DISABLE: u32 = 1 << 10;
/// Status register bit (in the COMMAND dword): a capability list exists.
const STATUS_CAPABILITIES: u32 = 1 << 20;
/// Capability IDs Bulkhead must hide.
pub const CAP_MSI: u8 = 0x05;
pub const CAP_MSIX: u8 = 0x11;

/// Reads the 32-bit MMIO register at `address`.
pub fn mmio_read32(address: u64) -> u32 {
    let value: u32;
    // SAFETY: callers pass an aligned register address inside the identity
    // map's Device window (the ECAM window or a BAR Bulkhead assigned); one
    // `ldr` without writeback is a plain device read, and a refused access
    // is the hypervisor's to report.
    unsafe { asm!("ldr {0:w}, [{1}]", out(reg) value, in(reg) address, options(nostack)) };
    value
}

/// Writes the 32-bit MMIO register at `address`.
pub fn mmio_write32(address: u64, value: u32) {
    // SAFETY: as for `mmio_read32`.
    unsafe { asm!("str {0:w}, [{1}]", in(reg) value, in(reg) address, options(nostack)) };
}

/// Reads the 64-bit MMIO register at `address`.
pub fn mmio_read64(address: u64) -> u64 {
    let value: u64;
    // SAFETY: as for `mmio_read32` (8-byte aligned).
    unsafe { asm!("ldr {0}, [{1}]", out(reg) value, in(reg) address, options(nostack)) };
    value
}

/// Writes the 64-bit MMIO register at `address` with one 64-bit store.
pub fn mmio_write64(address: u64, value: u64) {
    // SAFETY: as for `mmio_read32` (8-byte aligned).
    unsafe { asm!("str {0}, [{1}]", in(reg) value, in(reg) address, options(nostack)) };
}

/// `dsb sy`: RAM writes before it are visible to a DMA started after it,
/// and DMA writes finished before it are seen by reads after it. Also a
/// compiler barrier (no `nomem`): memory is reloaded after it.
pub fn dma_barrier() {
    // SAFETY: a barrier has no effect but ordering.
    unsafe { asm!("dsb sy", options(nostack)) };
}

/// A function on bus 0 of the virtual host bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub device: u8,
    pub function: u8,
}

impl Function {
    pub const fn new(device: u8, function: u8) -> Self {
        Function { device, function }
    }

    /// The function's ECAM address of register `offset`.
    pub fn address(&self, offset: u16) -> u64 {
        ECAM_BASE
            | u64::from(self.device & 0x1f) << 15
            | u64::from(self.function & 0x7) << 12
            | u64::from(offset & 0xffc)
    }

    /// Configuration dword at `offset` (rounded down to 4).
    pub fn read(&self, offset: u16) -> u32 {
        mmio_read32(self.address(offset))
    }

    /// Writes the configuration dword at `offset` (rounded down to 4).
    pub fn write(&self, offset: u16, value: u32) {
        mmio_write32(self.address(offset), value)
    }

    /// Stream ID of the function (bus 0): `device << 3 | function`.
    pub fn bdf(&self) -> u16 {
        u16::from(self.device) << 3 | u16::from(self.function)
    }

    pub fn vendor(&self) -> u16 {
        self.read(reg::ID) as u16
    }

    pub fn device_id(&self) -> u16 {
        (self.read(reg::ID) >> 16) as u16
    }

    /// Whether a function answers here.
    pub fn present(&self) -> bool {
        self.vendor() != 0xffff
    }

    /// Class code (base << 16 | sub << 8 | prog-if).
    pub fn class(&self) -> u32 {
        self.read(reg::CLASS) >> 8
    }

    /// Header type byte (bit 7: multi-function).
    pub fn header_type(&self) -> u8 {
        (self.read(reg::HEADER) >> 16) as u8
    }

    /// BAR0's address (memory BAR; a 64-bit one includes BAR1), or `None`
    /// for an I/O BAR.
    pub fn bar0(&self) -> Option<u64> {
        let low = self.read(reg::BAR0);
        if low & 1 != 0 {
            return None;
        }
        let mut address = u64::from(low & !0xf);
        if (low >> 1) & 0b11 == 0b10 {
            address |= u64::from(self.read(reg::BAR0 + 4)) << 32;
        }
        Some(address)
    }

    /// BAR0's size by the standard sizing dance on its low dword (all-ones,
    /// read the mask, write the old value back); 0 if it decodes nothing.
    pub fn bar0_size(&self) -> u64 {
        let old = self.read(reg::BAR0);
        self.write(reg::BAR0, u32::MAX);
        let mask = self.read(reg::BAR0);
        self.write(reg::BAR0, old);
        let mask = if old & 1 != 0 {
            mask & !0x3
        } else {
            mask & !0xf
        };
        if mask == 0 {
            0
        } else {
            u64::from((!mask).wrapping_add(1))
        }
    }

    /// Command register (15:0 of dword 0x04).
    pub fn command(&self) -> u32 {
        self.read(reg::COMMAND) & 0xffff
    }

    /// Writes the command register (status half written as 0: its RW1C bits stay).
    pub fn set_command(&self, command: u32) {
        self.write(reg::COMMAND, command & 0xffff)
    }

    /// Turns memory decoding and bus mastering on (INTx left enabled).
    pub fn enable_memory_and_bus_master(&self) {
        let command = self.command() | COMMAND_MEMORY | COMMAND_BUS_MASTER;
        self.set_command(command & !COMMAND_INTX_DISABLE);
    }

    /// Interrupt pin (1 = INTA, 0 none).
    pub fn interrupt_pin(&self) -> u8 {
        (self.read(reg::INTERRUPT) >> 8) as u8
    }

    /// Whether the capability list holds an MSI or MSI-X capability (at
    /// most 48 entries are walked, so a looping list ends).
    pub fn has_msi(&self) -> bool {
        if self.read(reg::COMMAND) & STATUS_CAPABILITIES == 0 {
            return false;
        }
        let mut pointer = (self.read(reg::CAPABILITIES) & 0xfc) as u16;
        for _ in 0..48 {
            if pointer < 0x40 {
                return false;
            }
            let header = self.read(pointer);
            let id = header as u8;
            if id == CAP_MSI || id == CAP_MSIX {
                return true;
            }
            pointer = ((header >> 8) & 0xfc) as u16;
        }
        false
    }
}

impl core::fmt::Display for Function {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "00:{:02x}.{}", self.device, self.function)
    }
}

/// What [`scan`] found.
#[derive(Clone, Copy, Debug)]
pub struct Scan {
    pub functions: [Option<Function>; MAX_FUNCTIONS],
    pub count: usize,
    /// No function lists an MSI or MSI-X capability.
    pub msi_hidden: bool,
}

impl Scan {
    /// The found functions, in scan order.
    pub fn iter(&self) -> impl Iterator<Item = Function> + '_ {
        self.functions.iter().flatten().copied()
    }

    /// The first function with this vendor and device ID.
    pub fn find(&self, vendor: u16, device: u16) -> Option<Function> {
        self.iter()
            .find(|f| f.vendor() == vendor && f.device_id() == device)
    }
}

/// Scans bus 0 (functions 1..7 only of multi-function devices) and prints
/// the lines in the module documentation.
pub fn scan() -> Scan {
    let mut found = Scan {
        functions: [None; MAX_FUNCTIONS],
        count: 0,
        msi_hidden: true,
    };
    for device in 0..32u8 {
        let first = Function::new(device, 0);
        if !first.present() {
            continue;
        }
        let functions = if first.header_type() & 0x80 != 0 {
            8
        } else {
            1
        };
        for function in 0..functions {
            let candidate = Function::new(device, function);
            if !candidate.present() {
                continue;
            }
            report(&candidate);
            if candidate.has_msi() {
                found.msi_hidden = false;
            }
            if let Some(slot) = found.functions.get_mut(found.count) {
                *slot = Some(candidate);
            }
            found.count += 1;
        }
    }
    mark!("pci scan functions={}", found.count);
    mark!("pci msi hidden={}", found.msi_hidden);
    found
}

/// Prints one function's `pci function` line.
fn report(function: &Function) {
    let size = function.bar0_size();
    match function.bar0() {
        Some(bar0) => mark!(
            "pci function {function} id={:04x}:{:04x} class={:#08x} bar0={bar0:#x} bar0_size={size:#x}",
            function.vendor(),
            function.device_id(),
            function.class(),
        ),
        None => mark!(
            "pci function {function} id={:04x}:{:04x} class={:#08x} bar0=io bar0_size={size:#x}",
            function.vendor(),
            function.device_id(),
            function.class(),
        ),
    }
}
