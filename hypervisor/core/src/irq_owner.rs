//! The interrupt-owner table: every INTID belongs to one partition, to Bulkhead itself, or to nobody.
//!
//! Built once at boot from the validated layout. SPIs have one owner
//! machine-wide; an SGI or PPI is banked per core, so its owner depends on
//! the core it fires on: Bulkhead's own (its kick SGI, the maintenance and
//! EL2-timer PPIs) everywhere, a guest PPI (its timers, PMU) the partition
//! running on that core. The IRQ path asks [`InterruptOwners::owner`] and
//! nothing else.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::config::{LayoutError, Partition};

/// First SPI and one past the last (1020..1023 are special).
pub const SPI_FIRST: u32 = 32;
pub const SPI_END: u32 = 1020;

/// Who an interrupt belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Nobody: it is deactivated and dropped if it fires.
    Nobody,
    /// Bulkhead handles it itself.
    Hypervisor,
    /// The partition with this index (position in the layout) gets it injected.
    Partition(usize),
}

const NOBODY: u16 = 0;
const HYPERVISOR: u16 = u16::MAX;

/// The table.
#[derive(Clone, Debug)]
pub struct InterruptOwners {
    /// Per SPI: NOBODY, HYPERVISOR or partition index + 1.
    spis: Vec<u16>,
    /// Bit n: SGI/PPI n is Bulkhead's on every core.
    hypervisor_private: u32,
    /// Bit n: PPI n belongs to whichever partition runs on the core.
    guest_private: u32,
}

impl InterruptOwners {
    /// Builds the table. `hypervisor_private`: Bulkhead's SGIs/PPIs;
    /// `guest_private`: the PPIs partitions own on their cores;
    /// `hypervisor_spis`: SPIs of devices Bulkhead keeps (its console, the SMMU).
    /// Refuses an SPI claimed twice, naming the partition and `devices`.
    pub fn build(
        partitions: &[Partition],
        hypervisor_private: &[u32],
        guest_private: &[u32],
        hypervisor_spis: &[u32],
    ) -> Result<InterruptOwners, Vec<LayoutError>> {
        let mask = |list: &[u32]| {
            list.iter()
                .filter(|&&intid| intid < SPI_FIRST)
                .fold(0u32, |mask, &intid| mask | 1 << intid)
        };
        let mut table = InterruptOwners {
            spis: vec![NOBODY; (SPI_END - SPI_FIRST) as usize],
            hypervisor_private: mask(hypervisor_private),
            guest_private: mask(guest_private) & !mask(hypervisor_private),
        };
        for &intid in hypervisor_spis {
            if let Some(slot) = table.slot(intid) {
                *slot = HYPERVISOR;
            }
        }
        let mut errors = Vec::new();
        for (index, partition) in partitions.iter().enumerate() {
            let Ok(tag) = u16::try_from(index + 1) else {
                continue;
            };
            let devices = partition.devices.iter().flat_map(|device| {
                device
                    .interrupts
                    .iter()
                    .map(move |&intid| ("devices", device.path.clone(), intid))
            });
            let functions = partition.pci_functions.iter().filter_map(|function| {
                let intid = function.interrupt?;
                Some(("pci-functions", format!("{}", function.address), intid))
            });
            for (property, what, intid) in devices.chain(functions) {
                let Some(slot) = table.slot(intid) else {
                    continue;
                };
                let holder = match *slot {
                    NOBODY => {
                        *slot = tag;
                        continue;
                    }
                    existing if existing == tag => continue,
                    HYPERVISOR => alloc::string::String::from("Bulkhead"),
                    other => partitions
                        .get(usize::from(other) - 1)
                        .map_or_else(|| format!("partition {other}"), |p| p.node.clone()),
                };
                errors.push(LayoutError::new(
                    partition.node.as_str(),
                    property,
                    format!("{what}: interrupt {intid} already belongs to {holder}"),
                ));
            }
        }
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors)
        }
    }

    fn slot(&mut self, intid: u32) -> Option<&mut u16> {
        let index = intid.checked_sub(SPI_FIRST)?;
        self.spis.get_mut(index as usize)
    }

    /// The owner of `intid` when it fires on a core running partition
    /// `running` (None: the core runs no partition).
    pub fn owner(&self, intid: u32, running: Option<usize>) -> Owner {
        if intid < SPI_FIRST {
            let bit = 1u32 << intid;
            return if self.hypervisor_private & bit != 0 {
                Owner::Hypervisor
            } else if self.guest_private & bit != 0 {
                running.map_or(Owner::Nobody, Owner::Partition)
            } else {
                Owner::Nobody
            };
        }
        let index = (intid - SPI_FIRST) as usize;
        match self.spis.get(index).copied() {
            None | Some(NOBODY) => Owner::Nobody,
            Some(HYPERVISOR) => Owner::Hypervisor,
            Some(tag) => Owner::Partition(usize::from(tag) - 1),
        }
    }

    /// The SPIs partition `index` owns, ascending.
    pub fn spis_of(&self, index: usize) -> impl Iterator<Item = u32> + '_ {
        let tag = u16::try_from(index + 1).unwrap_or(NOBODY);
        (SPI_FIRST..SPI_END).filter(move |&intid| {
            tag != NOBODY && self.spis.get((intid - SPI_FIRST) as usize) == Some(&tag)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::{Ipa, PhysAddr};
    use crate::config::{Device, Module};
    use alloc::string::ToString;

    fn partition(node: &str, interrupts: &[&[u32]]) -> Partition {
        Partition {
            id: 0,
            label: node.into(),
            node: node.into(),
            cpus: Vec::new(),
            memory: Vec::new(),
            devices: interrupts
                .iter()
                .enumerate()
                .map(|(index, list)| Device {
                    path: format!("/dev@{index}"),
                    regs: Vec::new(),
                    interrupts: list.to_vec(),
                    dma_capable: false,
                })
                .collect(),
            kernel: Module {
                pa: PhysAddr(0),
                size: 0,
            },
            load_address: Ipa(0),
            initrd: None,
            bootargs: None,
            checkpoint: None,
            manages: Vec::new(),
            pci_functions: Vec::new(),
            on_dma_fault: Default::default(),
            stage2_fault: Default::default(),
            channels: Vec::new(),
            virtual_console: false,
        }
    }

    #[test]
    fn owners_by_kind_and_core() {
        let partitions = [partition("/p0", &[&[33]]), partition("/p1", &[&[40, 41]])];
        let table = InterruptOwners::build(&partitions, &[8, 25, 26], &[23, 27, 30, 25], &[106])
            .expect("no conflict");
        assert_eq!(
            table.owner(33, Some(1)),
            Owner::Partition(0),
            "SPIs ignore the core"
        );
        assert_eq!(table.owner(41, None), Owner::Partition(1));
        assert_eq!(table.owner(106, Some(0)), Owner::Hypervisor);
        assert_eq!(table.owner(34, Some(0)), Owner::Nobody);
        assert_eq!(table.owner(8, Some(0)), Owner::Hypervisor);
        assert_eq!(
            table.owner(25, Some(0)),
            Owner::Hypervisor,
            "Bulkhead's wins"
        );
        assert_eq!(table.owner(27, Some(1)), Owner::Partition(1));
        assert_eq!(table.owner(27, None), Owner::Nobody);
        assert_eq!(
            table.owner(0, Some(1)),
            Owner::Nobody,
            "guest SGIs are virtual"
        );
        assert_eq!(table.owner(1019, Some(1)), Owner::Nobody);
        assert_eq!(table.owner(1023, Some(1)), Owner::Nobody);
        assert_eq!(table.owner(u32::MAX, Some(1)), Owner::Nobody);
        assert_eq!(table.spis_of(1).collect::<Vec<_>>(), [40, 41]);
        assert_eq!(table.spis_of(7).count(), 0);
    }

    #[test]
    fn an_spi_claimed_twice_is_refused_naming_both() {
        let partitions = [
            partition("/p0", &[&[40]]),
            partition("/p1", &[&[40], &[106]]),
        ];
        let errors = InterruptOwners::build(&partitions, &[], &[], &[106]).unwrap_err();
        let lines: Vec<_> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("/p1: devices: /dev@0: interrupt 40 already belongs to /p0"));
        assert!(lines[1].contains("/dev@1: interrupt 106 already belongs to Bulkhead"));
    }

    #[test]
    fn out_of_range_interrupts_are_ignored_not_trusted() {
        let partitions = [partition("/p0", &[&[5, 1020, 5000]])];
        let table = InterruptOwners::build(&partitions, &[], &[], &[]).expect("ok");
        assert_eq!(table.owner(5, Some(0)), Owner::Nobody);
        assert_eq!(table.owner(1020, Some(0)), Owner::Nobody);
    }
}
