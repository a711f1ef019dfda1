//! A partition's virtual PCI bus 0: its assigned functions and Bulkhead's emulated ones, everything else absent.

use alloc::vec::Vec;
use core::fmt;

use super::access::width_mask;
use super::address::{FunctionAddress, BUS_CONFIG_SIZE, MAX_DEVICE};
use super::config_space::ConfigSpace;
use super::emulated::EmulatedFunction;
use super::virtual_function::VirtualFunction;
use crate::vgic::Width;

/// The guest's virtual ECAM: 1 MiB, bus 0 only. Each assigned function sits
/// at its physical device and function number; each emulated function at
/// function 0 of the device it was added at.
///
/// A guest scanning per the specification probes functions 1-7 only behind a
/// function 0, so a function assigned without function 0 of its device is
/// invisible to it ([`VirtualBus::without_function_zero`] lists them; the
/// boot code warns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualBus {
    functions: Vec<VirtualFunction>,
    /// Emulated functions and their device numbers (function 0 each).
    emulated: Vec<(u8, EmulatedFunction)>,
    dropped: Vec<FunctionAddress>,
}

/// The INTx of the emulated function at `device` rose: inject its virtual
/// SPI once (see [`super::emulated::IntxLine`] for the model).
#[must_use = "a raise must be injected"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raise {
    /// Device number the function was added at.
    pub device: u8,
}

/// Why [`VirtualBus::add_emulated`] refused a function; `Display` is a sentence naming the slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Device numbers stop at 0x1f.
    DeviceOutOfRange { device: u8 },
    /// An assigned function sits at this device.
    Physical {
        device: u8,
        function: FunctionAddress,
    },
    /// Another emulated function sits at this device.
    Emulated { device: u8 },
}

impl fmt::Display for SlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotError::DeviceOutOfRange { device } => write!(
                f,
                "virtual PCI device {device:#04x} is above {MAX_DEVICE:#04x}"
            ),
            SlotError::Physical { device, function } => write!(
                f,
                "virtual PCI device {device:#04x} is taken by assigned function {function}"
            ),
            SlotError::Emulated { device } => write!(
                f,
                "virtual PCI device {device:#04x} is taken by another emulated function"
            ),
        }
    }
}

/// What an ECAM offset lands on.
enum Target<'a> {
    Physical(&'a mut VirtualFunction),
    Emulated(u8, &'a mut EmulatedFunction),
}

impl VirtualBus {
    /// A bus with `functions`. Functions on different physical buses can
    /// collide on virtual bus 0: the first keeps the slot, later ones are
    /// dropped and listed by [`VirtualBus::dropped`].
    pub fn new(functions: Vec<VirtualFunction>) -> VirtualBus {
        let mut kept: Vec<VirtualFunction> = Vec::with_capacity(functions.len());
        let mut dropped = Vec::new();
        for function in functions {
            let slot = function.virtual_address();
            if kept.iter().any(|other| other.virtual_address() == slot) {
                dropped.push(function.address());
            } else {
                kept.push(function);
            }
        }
        VirtualBus {
            functions: kept,
            emulated: Vec::new(),
            dropped,
        }
    }

    /// Puts `function` at function 0 of `device`. Refused if the device
    /// number is out of range or any function, assigned or emulated, is
    /// already at that device (the emulated function is single-function).
    pub fn add_emulated(
        &mut self,
        device: u8,
        function: EmulatedFunction,
    ) -> Result<(), SlotError> {
        if device > MAX_DEVICE {
            return Err(SlotError::DeviceOutOfRange { device });
        }
        if let Some(physical) = self
            .functions
            .iter()
            .find(|physical| physical.virtual_address().device == device)
        {
            return Err(SlotError::Physical {
                device,
                function: physical.address(),
            });
        }
        if self.emulated.iter().any(|(taken, _)| *taken == device) {
            return Err(SlotError::Emulated { device });
        }
        self.emulated.push((device, function));
        Ok(())
    }

    /// Partition restart: every emulated function's header and interrupt state back to reset.
    pub fn reset_emulated(&mut self) {
        for (_, function) in &mut self.emulated {
            function.reset();
        }
    }

    /// Physical functions left out because their slot on bus 0 was taken.
    pub fn dropped(&self) -> &[FunctionAddress] {
        &self.dropped
    }

    /// Physical functions a guest will not find because function 0 of their device is absent.
    pub fn without_function_zero(&self) -> Vec<FunctionAddress> {
        self.functions
            .iter()
            .filter(|function| {
                let slot = function.virtual_address();
                slot.function != 0
                    && !self.functions.iter().any(|other| {
                        let other = other.virtual_address();
                        other.device == slot.device && other.function == 0
                    })
            })
            .map(VirtualFunction::address)
            .collect()
    }

    /// A guest read at `offset` in the virtual ECAM; absent functions and
    /// buses other than 0 read all-ones, as a host bridge answers them.
    pub fn read(&mut self, config: &mut impl ConfigSpace, offset: u64, width: Width) -> u64 {
        match self.function_at(offset) {
            Some((Target::Physical(function), register)) => function.read(config, register, width),
            Some((Target::Emulated(_, function), register)) => function.read(register, width),
            None => width_mask(width),
        }
    }

    /// A guest write at `offset` in the virtual ECAM; ignored where nothing
    /// is present. Returns the emulated function whose INTx rose, if one did.
    pub fn write(
        &mut self,
        config: &mut impl ConfigSpace,
        offset: u64,
        width: Width,
        value: u64,
    ) -> Option<Raise> {
        match self.function_at(offset)? {
            (Target::Physical(function), register) => {
                function.write(config, register, width, value);
                None
            }
            (Target::Emulated(device, function), register) => function
                .write(register, width, value)
                .then_some(Raise { device }),
        }
    }

    /// The function `offset` addresses and the register offset within it.
    fn function_at(&mut self, offset: u64) -> Option<(Target<'_>, u16)> {
        if offset >= BUS_CONFIG_SIZE {
            return None;
        }
        let (address, register) = FunctionAddress::from_ecam_offset(offset);
        if let Some(function) = self
            .functions
            .iter_mut()
            .find(|function| function.virtual_address() == address)
        {
            return Some((Target::Physical(function), register));
        }
        if address.function != 0 {
            return None;
        }
        self.emulated
            .iter_mut()
            .find(|(device, _)| *device == address.device)
            .map(|(device, function)| (Target::Emulated(*device, function), register))
    }
}
