//! `pci-functions` and `on-dma-fault`: PCI functions given to a partition, checked against the board's host bridge.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{span, Draft, Validator};
use crate::address::ranges_overlap;
use crate::config::dt::Node;
use crate::config::layout::{OnDmaFault, PciFunction};
use crate::pci::FunctionAddress;

const PROPERTY: &str = "pci-functions";

impl Validator<'_, '_, '_> {
    /// Reads `pci-functions`. Functions belong to the board's first PCI
    /// host bridge; whether they exist is only known once Bulkhead has
    /// enumerated the bus at boot, where the same kind of line is printed.
    pub(super) fn pci_functions(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let Some(value) = node.property(PROPERTY) else {
            return;
        };
        let Some(list) = value.as_str_list() else {
            self.error(
                &draft.node,
                PROPERTY,
                "must be a list of strings such as \"00:02.0\" (bus:device.function)",
            );
            return;
        };
        if list.is_empty() {
            self.error(
                &draft.node,
                PROPERTY,
                "is empty: list PCI functions or leave it out",
            );
            return;
        }
        let Some(host) = self.board.pci_hosts.first() else {
            self.error(
                &draft.node,
                PROPERTY,
                "the board has no PCI host bridge (pci-host-ecam-generic)",
            );
            return;
        };
        if draft.devices.iter().any(|d| d.path == host.path) {
            self.error(
                &draft.node,
                PROPERTY,
                format!(
                    "the partition already has the whole host bridge {} in devices",
                    host.path
                ),
            );
            return;
        }
        for text in list {
            let address = match FunctionAddress::parse(text) {
                Ok(address) => address,
                Err(error) => {
                    self.error(&draft.node, PROPERTY, format!("{error}"));
                    continue;
                }
            };
            if !host.has_bus(address.bus) {
                self.error(
                    &draft.node,
                    PROPERTY,
                    format!(
                        "{address}: bus {:#04x} is outside {}'s bus-range {:#04x}-{:#04x}",
                        address.bus, host.path, host.first_bus, host.last_bus
                    ),
                );
                continue;
            }
            if draft.pci_functions.iter().any(|f| f.address == address) {
                self.error(&draft.node, PROPERTY, format!("{address} is listed twice"));
                continue;
            }
            draft.pci_functions.push(PciFunction {
                address,
                host: host.path.clone(),
                interrupt: host.intx_intid(address, 1),
                pin: 1,
                bars: Vec::new(),
                stream: host.stream(address).map(|(_, stream)| stream),
            });
        }
        // BARs are mapped at IPA == PA inside the host's windows: RAM may
        // not hide them (the virtual ECAM: see `cross_check_virtual_bus`).
        let windows: Vec<(String, u64, u64)> = host
            .identity_memory_windows()
            .map(|w| (format!("{}'s window", host.path), w.cpu.start.0, w.cpu.size))
            .collect();
        for region in &draft.memory {
            for (what, start, size) in &windows {
                if ranges_overlap(region.ipa.0, region.size, *start, *size) {
                    self.error(
                        &draft.node,
                        "memory",
                        format!(
                            "IPA range {} overlaps {what} {}, which a partition with pci-functions sees there",
                            span(region.ipa.0, region.size),
                            span(*start, *size)
                        ),
                    );
                }
            }
        }
    }

    /// Reads `on-dma-fault`.
    pub(super) fn on_dma_fault(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let choices = "must be \"report\" or \"stop\"";
        draft.on_dma_fault = match node.property("on-dma-fault").map(|p| p.as_str()) {
            None => OnDmaFault::default(),
            Some(None) => {
                self.error(
                    &draft.node,
                    "on-dma-fault",
                    format!("must be one UTF-8 string: {choices}"),
                );
                OnDmaFault::default()
            }
            Some(Some(name)) => OnDmaFault::from_name(name).unwrap_or_else(|| {
                self.error(
                    &draft.node,
                    "on-dma-fault",
                    format!("{name:?} is unknown: {choices}"),
                );
                OnDmaFault::default()
            }),
        };
    }

    /// PCI functions against the partitions ordered before `later`: one
    /// owner per function, a host given whole excludes its functions
    /// elsewhere, and INTx lines are not shared between partitions.
    pub(super) fn cross_check_pci(&mut self, later: &Draft, earlier: &[&Draft]) {
        let node = later.node.as_str();
        for theirs in earlier {
            let other = theirs.name.as_str();
            for function in &later.pci_functions {
                let address = function.address;
                if theirs.pci_functions.iter().any(|f| f.address == address) {
                    self.error(
                        node,
                        PROPERTY,
                        format!("{address} is also assigned to {other}"),
                    );
                    continue;
                }
                if theirs.devices.iter().any(|d| d.path == function.host) {
                    self.error(
                        node,
                        PROPERTY,
                        format!(
                            "{address} sits behind {}, which {other} has whole in devices",
                            function.host
                        ),
                    );
                    continue;
                }
                let Some(intid) = function.interrupt else {
                    continue;
                };
                if let Some(shared) = theirs
                    .pci_functions
                    .iter()
                    .find(|f| f.interrupt == Some(intid))
                {
                    self.error(
                        node,
                        PROPERTY,
                        format!(
                            "{address} raises INTx as interrupt {intid} (pin INTA), as does {} of {other}: INTx lines cannot be shared between partitions",
                            shared.address
                        ),
                    );
                }
            }
            for device in &later.devices {
                if let Some(function) = theirs.pci_functions.iter().find(|f| f.host == device.path)
                {
                    self.error(
                        node,
                        "devices",
                        format!(
                            "{} is given whole, but its function {} belongs to {other}",
                            device.path, function.address
                        ),
                    );
                }
            }
        }
    }
}
