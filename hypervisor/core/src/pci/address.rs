//! PCI function addresses: bus/device/function, their text form, routing ID and ECAM offset.

use alloc::string::String;
use core::fmt;

/// Highest device number on a bus (5 bits).
pub const MAX_DEVICE: u8 = 0x1f;
/// Highest function number in a device (3 bits).
pub const MAX_FUNCTION: u8 = 7;
/// Bytes of configuration space per function in ECAM (PCIe's 4 KiB).
pub const FUNCTION_CONFIG_SIZE: u64 = 0x1000;
/// Bytes of ECAM per bus: 32 devices of 8 functions of 4 KiB.
pub const BUS_CONFIG_SIZE: u64 = 0x10_0000;

/// A PCI function: bus, device (0..=0x1f) and function (0..=7); written "00:02.0".
///
/// The fields are public for convenience; the methods mask device and
/// function to their widths, so an out-of-range value never spills into a
/// neighbouring field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FunctionAddress {
    pub bus: u8,
    pub device: u8,
    pub function: u8,
}

impl FunctionAddress {
    /// Parses "BB:DD.F" as the layout names functions: two hex digits of bus,
    /// two of device (at most 0x1f), one digit of function (0-7).
    pub fn parse(text: &str) -> Result<FunctionAddress, AddressError> {
        let malformed = || AddressError::Malformed {
            text: String::from(text),
        };
        let (bus, rest) = text.split_once(':').ok_or_else(malformed)?;
        let (device, function) = rest.split_once('.').ok_or_else(malformed)?;
        let bus = hex_field(bus, 2).ok_or_else(malformed)?;
        let device = hex_field(device, 2).ok_or_else(malformed)?;
        let function = hex_field(function, 1).ok_or_else(malformed)?;
        if device > MAX_DEVICE {
            return Err(AddressError::DeviceOutOfRange {
                text: String::from(text),
                device,
            });
        }
        if function > MAX_FUNCTION {
            return Err(AddressError::FunctionOutOfRange {
                text: String::from(text),
                function,
            });
        }
        Ok(FunctionAddress {
            bus,
            device,
            function,
        })
    }

    /// The PCIe requester/routing ID: bus<<8 | device<<3 | function. On QEMU
    /// virt the SMMU's iommu-map is the identity, so this is also the StreamID.
    pub fn routing_id(self) -> u16 {
        (u16::from(self.bus) << 8)
            | (u16::from(self.device & MAX_DEVICE) << 3)
            | u16::from(self.function & MAX_FUNCTION)
    }

    /// Offset of this function's 4 KiB of configuration space from the ECAM base of bus 0.
    pub fn ecam_offset(self) -> u64 {
        (u64::from(self.bus) << 20)
            | (u64::from(self.device & MAX_DEVICE) << 15)
            | (u64::from(self.function & MAX_FUNCTION) << 12)
    }

    /// Splits an ECAM offset into the function it addresses and the register
    /// offset within its 4 KiB. Bits above the 256 buses are ignored: the
    /// caller bounds the offset by the size of its ECAM window.
    pub fn from_ecam_offset(offset: u64) -> (FunctionAddress, u16) {
        let address = FunctionAddress {
            bus: ((offset >> 20) & 0xff) as u8,
            device: ((offset >> 15) & u64::from(MAX_DEVICE)) as u8,
            function: ((offset >> 12) & u64::from(MAX_FUNCTION)) as u8,
        };
        (address, (offset & (FUNCTION_CONFIG_SIZE - 1)) as u16)
    }
}

impl fmt::Display for FunctionAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// `field` as exactly `digits` hex digits (no sign, no prefix, nothing else).
fn hex_field(field: &str, digits: usize) -> Option<u8> {
    if field.len() != digits || !field.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    u8::from_str_radix(field, 16).ok()
}

/// Why a text is not a function address; `Display` is a sentence quoting the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Not of the form BB:DD.F.
    Malformed { text: String },
    /// The device number is above 0x1f.
    DeviceOutOfRange { text: String, device: u8 },
    /// The function number is above 7.
    FunctionOutOfRange { text: String, function: u8 },
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Malformed { text } => write!(
                f,
                "{text:?} is not a PCI function address: expected BB:DD.F (hex bus and device, function 0-7)"
            ),
            AddressError::DeviceOutOfRange { text, device } => write!(
                f,
                "{text:?} is not a PCI function address: device {device:#04x} is above {MAX_DEVICE:#04x}"
            ),
            AddressError::FunctionOutOfRange { text, function } => write!(
                f,
                "{text:?} is not a PCI function address: function {function} is above {MAX_FUNCTION}"
            ),
        }
    }
}
