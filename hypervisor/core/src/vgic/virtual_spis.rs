//! Purely virtual SPIs (channel doorbells, virtual PCI INTx): their distributor state, kept in the model.
//!
//! They never reach the physical GIC: the hypervisor injects them through
//! list registers. What the guest programs for them (enable, priority,
//! trigger, route) lives here; a doorbell rung while the guest has the SPI
//! disabled is latched and delivered once it enables it.

use crate::config::virtual_pci::{FIRST_VIRTUAL_SPI, VIRTUAL_SPI_END};

use super::registers::DEFAULT_PRIORITY;

/// Number of virtual SPI slots (INTIDs FIRST_VIRTUAL_SPI..VIRTUAL_SPI_END).
pub const VIRTUAL_SPI_COUNT: usize = (VIRTUAL_SPI_END - FIRST_VIRTUAL_SPI) as usize;

/// Bit of `intid` in the 64-bit slot masks, if it is a virtual SPI.
pub fn virtual_spi_bit(intid: u32) -> Option<u64> {
    (FIRST_VIRTUAL_SPI..VIRTUAL_SPI_END)
        .contains(&intid)
        .then(|| 1u64 << (intid - FIRST_VIRTUAL_SPI))
}

/// The virtual SPIs of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct VirtualSpis {
    /// Slots (bit n: INTID FIRST_VIRTUAL_SPI + n) the partition has.
    pub(super) present: u64,
    pub(super) enabled: u64,
    /// Raised while disabled; delivered when enabled.
    pub(super) latched: u64,
    /// ICFGR says edge-triggered.
    pub(super) edge: u64,
    pub(super) priority: [u8; VIRTUAL_SPI_COUNT],
    /// Target vCPU (IROUTER; IRM = 1 means vCPU 0).
    pub(super) route: [u8; VIRTUAL_SPI_COUNT],
}

impl VirtualSpis {
    pub(super) fn new(intids: impl IntoIterator<Item = u32>) -> VirtualSpis {
        let present = intids
            .into_iter()
            .filter_map(virtual_spi_bit)
            .fold(0, |mask, bit| mask | bit);
        let mut spis = VirtualSpis {
            present,
            enabled: 0,
            latched: 0,
            edge: 0,
            priority: [0; VIRTUAL_SPI_COUNT],
            route: [0; VIRTUAL_SPI_COUNT],
        };
        spis.reset();
        spis
    }

    /// Disabled, nothing latched, level, default priority, vCPU 0.
    pub(super) fn reset(&mut self) {
        self.enabled = 0;
        self.latched = 0;
        self.edge = 0;
        self.priority = [DEFAULT_PRIORITY; VIRTUAL_SPI_COUNT];
        self.route = [0; VIRTUAL_SPI_COUNT];
    }

    /// The slot of `intid` if the partition has it.
    pub(super) fn slot(&self, intid: u32) -> Option<usize> {
        let bit = virtual_spi_bit(intid)?;
        (self.present & bit != 0).then(|| (intid - FIRST_VIRTUAL_SPI) as usize)
    }

    /// Present bits of the 32-bit bank register `register` (INTIDs 32n..32n+31).
    pub(super) fn bank_mask(&self, register: usize) -> u32 {
        self.bank_bits(register, self.present)
    }

    /// Bits of `mask` (slot layout) as bank register `register` lays them out.
    pub(super) fn bank_bits(&self, register: usize, mask: u64) -> u32 {
        let first = register as u32 * 32;
        (0..32)
            .filter(|bit| {
                virtual_spi_bit(first + bit).is_some_and(|slot| mask & self.present & slot != 0)
            })
            .fold(0, |bits, bit| bits | 1 << bit)
    }

    /// `bits` of bank register `register` in slot layout.
    pub(super) fn slots_of_bank(&self, register: usize, bits: u32) -> u64 {
        let first = register as u32 * 32;
        (0..32)
            .filter(|bit| bits & (1 << bit) != 0)
            .filter_map(|bit| virtual_spi_bit(first + bit))
            .fold(0, |mask, slot| mask | slot)
            & self.present
    }
}
