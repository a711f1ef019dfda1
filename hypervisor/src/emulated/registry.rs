//! A partition's emulated-device registry: IPA range -> device, consulted on every trapped data abort.
//!
//! Built at boot from the layout and never changed: a new emulated device
//! (a virtual PCI host, channel registers, a virtual UART) is a new entry,
//! not a new branch in the abort handler. Entries never overlap.

use alloc::vec::Vec;

use bulkhead_core::vgic::Width;

use crate::partition::{Partition, Vcpu};

/// A device Bulkhead emulates for a guest. Accesses arrive decoded: the
/// offset inside the device's range, the width, and for writes the value
/// already truncated to that width.
pub trait EmulatedDevice: Sync {
    fn read(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width) -> u64;
    fn write(&self, partition: &Partition, vcpu: &Vcpu, offset: u64, width: Width, value: u64);
}

struct Entry {
    start: u64,
    size: u64,
    device: &'static dyn EmulatedDevice,
}

/// The registry of one partition.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

/// Why an entry could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryError {
    Empty,
    Overlaps { start: u64 },
}

impl Registry {
    /// Adds `device` at `[start, start + size)`; boot only.
    pub fn add(
        &mut self,
        start: u64,
        size: u64,
        device: &'static dyn EmulatedDevice,
    ) -> Result<(), RegistryError> {
        let end = start
            .checked_add(size)
            .filter(|_| size != 0)
            .ok_or(RegistryError::Empty)?;
        if let Some(other) = self
            .entries
            .iter()
            .find(|entry| start < entry.start + entry.size && entry.start < end)
        {
            return Err(RegistryError::Overlaps { start: other.start });
        }
        self.entries.push(Entry {
            start,
            size,
            device,
        });
        Ok(())
    }

    /// The device at `ipa` and the offset of `ipa` inside it.
    pub fn lookup(&self, ipa: u64) -> Option<(&'static dyn EmulatedDevice, u64)> {
        self.entries
            .iter()
            .find(|entry| ipa >= entry.start && ipa - entry.start < entry.size)
            .map(|entry| (entry.device, ipa - entry.start))
    }
}
