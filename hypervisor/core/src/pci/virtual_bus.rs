//! A partition's virtual PCI bus 0: its assigned functions, everything else absent.

use alloc::vec::Vec;

use super::address::{FunctionAddress, BUS_CONFIG_SIZE};
use super::config_space::ConfigSpace;
use super::virtual_function::{width_mask, VirtualFunction};
use crate::vgic::Width;

/// The guest's virtual ECAM: 1 MiB, bus 0 only. Each function sits at its
/// physical device and function number.
///
/// A guest scanning per the specification probes functions 1-7 only behind a
/// function 0, so a function assigned without function 0 of its device is
/// invisible to it ([`VirtualBus::without_function_zero`] lists them; the
/// boot code warns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualBus {
    functions: Vec<VirtualFunction>,
    dropped: Vec<FunctionAddress>,
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
            dropped,
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
            Some((function, register)) => function.read(config, register, width),
            None => width_mask(width),
        }
    }

    /// A guest write at `offset` in the virtual ECAM; ignored where nothing is present.
    pub fn write(&mut self, config: &mut impl ConfigSpace, offset: u64, width: Width, value: u64) {
        if let Some((function, register)) = self.function_at(offset) {
            function.write(config, register, width, value);
        }
    }

    /// The function `offset` addresses and the register offset within it.
    fn function_at(&mut self, offset: u64) -> Option<(&mut VirtualFunction, u16)> {
        if offset >= BUS_CONFIG_SIZE {
            return None;
        }
        let (address, register) = FunctionAddress::from_ecam_offset(offset);
        self.functions
            .iter_mut()
            .find(|function| function.virtual_address() == address)
            .map(|function| (function, register))
    }
}
