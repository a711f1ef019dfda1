//! A partition's virtual PCI bus (PCI functions, channel endpoints, control function): what must stay clear for it.

use alloc::format;
use alloc::vec::Vec;

use super::channel::ChannelDraft;
use super::{span, Draft, Validator};
use crate::address::ranges_overlap;
use crate::config::pci_host::VIRTUAL_ECAM;
use crate::config::virtual_pci::{
    channel_device, CONTROL_DEVICE, FIRST_VIRTUAL_SPI, MAX_CHANNELS_PER_PARTITION, VIRTUAL_MMIO,
};

impl Validator<'_, '_, '_> {
    /// For every partition with a virtual PCI bus (it has `pci-functions`,
    /// is an endpoint of a channel, or `manages` others): its PCI functions
    /// keep off the virtual functions' device numbers, its memory off the
    /// virtual ECAM and register window, its devices' interrupts off the
    /// virtual SPIs. Errors name the partition.
    pub(super) fn cross_check_virtual_bus(
        &mut self,
        partitions: &[Draft],
        channels: &[ChannelDraft],
    ) {
        for partition in partitions {
            let mut mine: Vec<&ChannelDraft> = match partition.id {
                Some(id) => channels
                    .iter()
                    .filter(|c| c.id().is_some() && c.has_endpoint(id))
                    .collect(),
                None => Vec::new(),
            };
            mine.sort_by_key(|c| c.id());
            mine.truncate(MAX_CHANNELS_PER_PARTITION);
            let manages = !partition.manages.is_empty();
            if partition.pci_functions.is_empty() && mine.is_empty() && !manages {
                continue;
            }
            self.virtual_devices(partition, &mine, manages);
            self.virtual_windows(partition);
            self.interrupts_below_virtual_spis(partition);
        }
    }

    /// A PCI function keeps its device number on the virtual bus, so it may
    /// not take the control function's or a channel endpoint's.
    fn virtual_devices(&mut self, partition: &Draft, channels: &[&ChannelDraft], manages: bool) {
        for function in &partition.pci_functions {
            let (address, device) = (function.address, function.address.device);
            if manages && device == CONTROL_DEVICE {
                self.error(
                    &partition.node,
                    "pci-functions",
                    format!(
                        "{address}: device {device:#04x} on the virtual PCI bus is the control function's, which a partition that manages others sees there"
                    ),
                );
            }
            let slot = (0..channels.len()).find(|&k| channel_device(k) == device);
            if let Some(channel) = slot.and_then(|k| channels.get(k)) {
                self.error(
                    &partition.node,
                    "pci-functions",
                    format!(
                        "{address}: device {device:#04x} on the virtual PCI bus is the endpoint function of {}",
                        channel.name()
                    ),
                );
            }
        }
    }

    /// RAM may not hide the virtual ECAM or the virtual functions' BAR0s.
    fn virtual_windows(&mut self, partition: &Draft) {
        let windows = [
            ("the virtual PCI host's ECAM", VIRTUAL_ECAM),
            ("the virtual PCI functions' register window", VIRTUAL_MMIO),
        ];
        for region in &partition.memory {
            for (what, window) in &windows {
                if ranges_overlap(region.ipa.0, region.size, window.start.0, window.size) {
                    self.error(
                        &partition.node,
                        "memory",
                        format!(
                            "IPA range {} overlaps {what} {}, which a partition with a virtual PCI bus (pci-functions, channels or manages) sees there",
                            span(region.ipa.0, region.size),
                            span(window.start.0, window.size)
                        ),
                    );
                }
            }
        }
    }

    /// INTIDs from [`FIRST_VIRTUAL_SPI`] on are the virtual functions'.
    fn interrupts_below_virtual_spis(&mut self, partition: &Draft) {
        for device in &partition.devices {
            for intid in device
                .interrupts
                .iter()
                .filter(|&&i| i >= FIRST_VIRTUAL_SPI)
            {
                self.error(
                    &partition.node,
                    "devices",
                    format!(
                        "{} uses interrupt {intid}, but INTIDs from {FIRST_VIRTUAL_SPI} on are virtual SPIs on a partition with a virtual PCI bus",
                        device.path
                    ),
                );
            }
        }
        for function in &partition.pci_functions {
            let Some(intid) = function.interrupt.filter(|&i| i >= FIRST_VIRTUAL_SPI) else {
                continue;
            };
            self.error(
                &partition.node,
                "pci-functions",
                format!(
                    "{} raises INTx as interrupt {intid}, but INTIDs from {FIRST_VIRTUAL_SPI} on are virtual SPIs on its virtual PCI bus",
                    function.address
                ),
            );
        }
    }
}
