//! `channel@<id>` nodes: shared memory, its endpoints and where each sees it, checked against the board and every partition.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{page_span, span, Draft, Validator};
use crate::address::{is_aligned, ranges_overlap, Ipa, PhysRange, PAGE_SIZE};
use crate::config::channel::{Channel, ChannelEndpointConfig, MAX_CHANNEL_LABEL_BYTES};
use crate::config::dt::{cells_to_u64, Node};
use crate::config::error::LayoutError;
use crate::config::pci_host::VIRTUAL_ECAM;
use crate::config::virtual_pci::{MAX_CHANNELS_PER_PARTITION, VIRTUAL_MMIO};
use crate::stage2::IPA_BITS;

/// Base name of a channel node under `/chosen/bulkhead`.
pub(super) const CHANNEL_NODE: &str = "channel";
/// Cells of a channel's `memory`: PA and size, two cells each.
const MEMORY_CELLS: usize = 4;
/// Cells of one `endpoint-ipa` entry.
const IPA_CELLS: usize = 2;

/// A channel as read so far; fields stay `None`/partial where an error was reported.
pub(super) struct ChannelDraft {
    node: String,
    /// "channel@1 (results)", for messages about other channels.
    name: String,
    id: Option<u32>,
    label: Option<String>,
    /// Its memory if non-zero and not wrapping (kept for overlap checks
    /// even if it has other problems).
    memory: Option<PhysRange>,
    /// Partition ids as listed (repeats reported, not removed).
    endpoints: Vec<u32>,
    /// One IPA per listed endpoint, or empty if they could not be paired.
    ipas: Vec<Ipa>,
    read_only: Vec<u32>,
}

impl ChannelDraft {
    pub(super) fn id(&self) -> Option<u32> {
        self.id
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// Whether partition `id` is one of its endpoints.
    pub(super) fn has_endpoint(&self, id: u32) -> bool {
        self.endpoints.contains(&id)
    }

    /// Where each endpoint sees the memory: `(endpoint index, partition id,
    /// IPA range)`, first listing of each partition only; empty while the
    /// memory or the IPAs are unknown.
    fn windows(&self) -> impl Iterator<Item = (usize, u32, PhysRange)> + '_ {
        let size = self.memory.map_or(0, |m| m.size);
        self.endpoints
            .iter()
            .zip(&self.ipas)
            .enumerate()
            .filter(move |(index, (id, _))| {
                size != 0 && self.endpoints.iter().position(|e| e == *id) == Some(*index)
            })
            .map(move |(index, (&id, ipa))| (index, id, PhysRange::new(ipa.0, size)))
    }

    pub(super) fn finish(self) -> Result<Channel, LayoutError> {
        let incomplete = |property: &str| {
            LayoutError::new(
                self.node.clone(),
                property,
                "could not be read (validator bug: no error was reported)",
            )
        };
        let memory = self.memory.ok_or_else(|| incomplete("memory"))?;
        if self.ipas.len() != self.endpoints.len() {
            return Err(incomplete("endpoint-ipa"));
        }
        let endpoints = self
            .endpoints
            .iter()
            .zip(&self.ipas)
            .map(|(&partition, &ipa)| ChannelEndpointConfig {
                partition,
                ipa,
                read_only: self.read_only.contains(&partition),
            })
            .collect();
        Ok(Channel {
            id: self.id.ok_or_else(|| incomplete("reg"))?,
            label: self.label.clone().ok_or_else(|| incomplete("label"))?,
            pa: memory.start,
            size: memory.size,
            endpoints,
            node: self.node,
        })
    }
}

/// Whether `size` can be a channel's: a power of two of at least 4 KiB,
/// as a PCI BAR must be.
fn bar_sized(size: u64) -> bool {
    size.is_power_of_two() && size >= PAGE_SIZE
}

impl<'t, 'a> Validator<'_, 't, 'a> {
    /// Reads one `channel@<id>` node; what it shares with partitions and
    /// other channels is checked in [`Validator::cross_check_channels`].
    pub(super) fn channel(&mut self, node: &Node<'t, 'a>) -> ChannelDraft {
        let path = node.path();
        let id = match node.property("reg").map(|p| p.as_u32()) {
            None => {
                self.error(&path, "reg", "is missing: it gives the channel id");
                None
            }
            Some(None) => {
                self.error(&path, "reg", "must be one 32-bit cell (the channel id)");
                None
            }
            Some(id) => id,
        };
        let label = self.channel_label(node, id);
        let name = match &label {
            Some(label) => format!("{} ({label})", node.name()),
            None => String::from(node.name()),
        };
        let mut draft = ChannelDraft {
            node: path,
            name,
            id,
            label,
            memory: None,
            endpoints: Vec::new(),
            ipas: Vec::new(),
            read_only: Vec::new(),
        };
        self.channel_memory(node, &mut draft);
        self.endpoints(node, &mut draft);
        self.endpoint_ipa(node, &mut draft);
        self.read_only(node, &mut draft);
        draft
    }

    /// `property` of `node` as 32-bit cells; if it is missing, says so with
    /// `hint` on what to give.
    fn required_cells(
        &mut self,
        node: &Node<'_, '_>,
        property: &str,
        hint: &str,
    ) -> Option<Vec<u32>> {
        if node.property(property).is_none() {
            self.error(&node.path(), property, format!("is missing: {hint}"));
            return None;
        }
        self.cells(node, property, true)
    }

    /// `label`, or "channel<id>" without one.
    fn channel_label(&mut self, node: &Node<'_, '_>, id: Option<u32>) -> Option<String> {
        let path = node.path();
        match node.property("label").map(|p| p.as_str()) {
            None => id.map(|id| format!("channel{id}")),
            Some(None) => {
                self.error(&path, "label", "must be one UTF-8 string");
                None
            }
            Some(Some("")) => {
                self.error(
                    &path,
                    "label",
                    "is empty: name the channel or leave label out (default \"channel<id>\")",
                );
                None
            }
            Some(Some(label)) if label.len() > MAX_CHANNEL_LABEL_BYTES => {
                self.error(
                    &path,
                    "label",
                    format!(
                        "{label:?} is {} bytes long: at most {MAX_CHANNEL_LABEL_BYTES} fit the endpoint's LABEL register",
                        label.len()
                    ),
                );
                None
            }
            Some(Some(label)) => Some(String::from(label)),
        }
    }

    /// `memory`, against the board's RAM and Bulkhead's reserved area;
    /// against partitions, MMIO and other channels in `cross_check_channels`.
    fn channel_memory(&mut self, node: &Node<'_, '_>, draft: &mut ChannelDraft) {
        let path = node.path();
        let Some(cells) = self.required_cells(
            node,
            "memory",
            "give the channel memory's PA and size (2 cells each)",
        ) else {
            return;
        };
        if cells.len() != MEMORY_CELLS {
            self.error(
                &path,
                "memory",
                format!(
                    "has {:#x} cells: must be {MEMORY_CELLS} (PA and size, 2 cells each)",
                    cells.len()
                ),
            );
            return;
        }
        let value = |i: usize| cells_to_u64(cells.get(i..i + 2).unwrap_or(&[])).unwrap_or(0);
        let range = PhysRange::new(value(0), value(2));
        let name = span(range.start.0, range.size);
        if range.size == 0 {
            self.error(&path, "memory", format!("memory {name} has zero size"));
            return;
        }
        if range.end().is_none() {
            self.error(
                &path,
                "memory",
                format!("memory {name} wraps the physical address space"),
            );
            return;
        }
        draft.memory = Some(range);
        if !bar_sized(range.size) {
            self.error(
                &path,
                "memory",
                format!(
                    "memory {name}: size {:#x} is not a power of two of at least 4 KiB, as the PCI BAR that describes it must be",
                    range.size
                ),
            );
        }
        if !is_aligned(range.start.0, PAGE_SIZE) {
            self.error(
                &path,
                "memory",
                format!(
                    "memory {name}: PA {:#x} is not 4 KiB aligned",
                    range.start.0
                ),
            );
        }
        if !self.board.ram.iter().any(|ram| ram.contains_range(&range)) {
            self.error(
                &path,
                "memory",
                format!("memory {name} does not lie inside one RAM range of the board"),
            );
        }
        if range.overlaps(&self.reserved) {
            self.error(
                &path,
                "memory",
                format!(
                    "memory {name} overlaps Bulkhead's reserved area {}",
                    span(self.reserved.start.0, self.reserved.size)
                ),
            );
        }
    }

    /// `endpoints`: at least two partition ids, none repeated; whether they
    /// exist is checked in `cross_check_channels`.
    fn endpoints(&mut self, node: &Node<'_, '_>, draft: &mut ChannelDraft) {
        let Some(ids) = self.required_cells(
            node,
            "endpoints",
            "list the ids of the partitions that share the channel",
        ) else {
            return;
        };
        for &id in &ids {
            if draft.endpoints.contains(&id) {
                self.error(
                    &draft.node,
                    "endpoints",
                    format!("partition id {id:#x} is listed twice"),
                );
            }
            draft.endpoints.push(id);
        }
        if ids.len() < 2 {
            self.error(
                &draft.node,
                "endpoints",
                format!(
                    "has {:#x} partition ids: a channel joins at least two partitions",
                    ids.len()
                ),
            );
        }
    }

    /// `endpoint-ipa`: one IPA per endpoint, aligned to the channel size,
    /// inside the stage-2 IPA space and clear of the GIC and the virtual
    /// PCI host; the endpoint's own map is checked in `cross_check_channels`.
    fn endpoint_ipa(&mut self, node: &Node<'_, '_>, draft: &mut ChannelDraft) {
        let Some(cells) = self.required_cells(
            node,
            "endpoint-ipa",
            "give the IPA (2 cells) where each endpoint sees the channel, in endpoints order",
        ) else {
            return;
        };
        if draft.endpoints.is_empty() {
            // Nothing to pair the IPAs with: `endpoints` was reported.
            return;
        }
        let expected = draft.endpoints.len() * IPA_CELLS;
        if cells.len() != expected {
            self.error(
                &draft.node,
                "endpoint-ipa",
                format!(
                    "has {:#x} cells: must be {expected:#x}, one IPA (2 cells) per endpoint ({:#x} endpoints)",
                    cells.len(),
                    draft.endpoints.len()
                ),
            );
            return;
        }
        draft.ipas = cells
            .chunks_exact(IPA_CELLS)
            .map(|entry| Ipa(cells_to_u64(entry).unwrap_or(0)))
            .collect();
        let size = draft.memory.map(|m| m.size);
        let align = size.filter(|&s| bar_sized(s)).unwrap_or(PAGE_SIZE);
        let mut fixed = alloc::vec![
            ("the virtual PCI host's ECAM", VIRTUAL_ECAM),
            ("the virtual PCI functions' register window", VIRTUAL_MMIO),
        ];
        match &self.board.gic {
            Some(super::super::Gic::V3(gic)) => {
                fixed.push(("the GIC distributor", gic.distributor));
                fixed.push(("the GIC redistributors", gic.redistributors));
            }
            Some(super::super::Gic::V2(gic)) => {
                fixed.push(("the GIC distributor", gic.distributor));
                fixed.push(("the GIC CPU interface", gic.cpu_interface));
            }
            None => {}
        }
        let endpoints: Vec<(u32, Ipa)> = draft
            .endpoints
            .iter()
            .copied()
            .zip(draft.ipas.iter().copied())
            .collect();
        for (index, (id, ipa)) in endpoints.into_iter().enumerate() {
            let endpoint = format!("endpoint {index} (partition {id:#x})");
            if !is_aligned(ipa.0, align) {
                self.error(
                    &draft.node,
                    "endpoint-ipa",
                    format!(
                        "{endpoint}: IPA {:#x} is not aligned to {align:#x}, the channel size (its BAR is aligned to its size)",
                        ipa.0
                    ),
                );
            }
            let Some(size) = size else { continue };
            let range = PhysRange::new(ipa.0, size);
            let name = span(ipa.0, size);
            if range.end().is_none_or(|end| end > 1u64 << IPA_BITS) {
                self.error(
                    &draft.node,
                    "endpoint-ipa",
                    format!(
                        "{endpoint}: IPA range {name} is outside the {IPA_BITS}-bit IPA space a guest can map"
                    ),
                );
            }
            for (what, window) in &fixed {
                if range.overlaps(window) {
                    self.error(
                        &draft.node,
                        "endpoint-ipa",
                        format!(
                            "{endpoint}: IPA range {name} overlaps {what} {}, which the partition sees there",
                            span(window.start.0, window.size)
                        ),
                    );
                }
            }
        }
    }

    /// The optional `read-only = <id ...>`: endpoints only, not all of them.
    fn read_only(&mut self, node: &Node<'_, '_>, draft: &mut ChannelDraft) {
        let Some(ids) = self.cells(node, "read-only", false) else {
            return;
        };
        if ids.is_empty() {
            self.error(
                &draft.node,
                "read-only",
                "is empty: list the endpoint partition ids that may only read, or leave it out",
            );
            return;
        }
        for id in ids {
            if !draft.endpoints.contains(&id) {
                self.error(
                    &draft.node,
                    "read-only",
                    format!("partition id {id:#x} is not an endpoint of this channel"),
                );
            } else if draft.read_only.contains(&id) {
                self.error(
                    &draft.node,
                    "read-only",
                    format!("partition id {id:#x} is listed twice"),
                );
            } else {
                draft.read_only.push(id);
            }
        }
        if !draft.endpoints.is_empty()
            && draft.endpoints.iter().all(|e| draft.read_only.contains(e))
        {
            self.error(
                &draft.node,
                "read-only",
                "every endpoint is read-only: at least one must be able to write",
            );
        }
    }

    /// Checks between channels, and between channels and partitions; a
    /// clash of two channels is reported on the one with the higher id.
    pub(super) fn cross_check_channels(&mut self, partitions: &[Draft], channels: &[ChannelDraft]) {
        let mut ordered: Vec<&ChannelDraft> = channels.iter().collect();
        ordered
            .sort_by(|a, b| (a.id.is_none(), a.id, &a.node).cmp(&(b.id.is_none(), b.id, &b.node)));
        let mmio = self.all_mmio(partitions);
        // (partition id, channels it is an endpoint of so far).
        let mut counts: Vec<(u32, usize)> = Vec::new();
        for (later_index, later) in ordered.iter().enumerate() {
            let earlier = ordered.get(..later_index).unwrap_or_default();
            if let Some(id) = later.id {
                if let Some(other) = earlier.iter().find(|c| c.id == Some(id)) {
                    self.error(
                        &later.node,
                        "reg",
                        format!("channel id {id:#x} is also used by {}", other.name),
                    );
                }
            }
            self.channel_memory_clashes(later, partitions, earlier, &mmio);
            self.channel_endpoints(later, partitions, &mut counts);
            self.channel_windows(later, partitions, earlier);
        }
    }

    /// Every MMIO range of the board and of the partitions' devices (a PCI
    /// host's windows are not in the board's list), each once.
    fn all_mmio(&self, partitions: &[Draft]) -> Vec<(String, PhysRange)> {
        let mut mmio: Vec<(String, PhysRange)> = self
            .board
            .mmio
            .iter()
            .map(|m| (m.node.clone(), m.range))
            .collect();
        for device in partitions.iter().flat_map(|p| &p.devices) {
            for range in &device.regs {
                if !mmio.iter().any(|(n, r)| *n == device.path && r == range) {
                    mmio.push((device.path.clone(), *range));
                }
            }
        }
        mmio
    }

    /// The channel memory against every partition's memory, boot modules
    /// and checkpoint store, all MMIO, and the channels ordered before it.
    fn channel_memory_clashes(
        &mut self,
        channel: &ChannelDraft,
        partitions: &[Draft],
        earlier: &[&ChannelDraft],
        mmio: &[(String, PhysRange)],
    ) {
        let Some(memory) = channel.memory else {
            return;
        };
        let node = channel.node.as_str();
        let name = span(memory.start.0, memory.size);
        for partition in partitions {
            let whose = partition.name.as_str();
            for region in partition
                .memory
                .iter()
                .filter(|r| memory.overlaps(&PhysRange::new(r.pa.0, r.size)))
            {
                self.error(
                    node,
                    "memory",
                    format!(
                        "memory {name} overlaps the memory of {whose}, at its region {}",
                        span(region.pa.0, region.size)
                    ),
                );
            }
            let modules = [("kernel", partition.kernel), ("initrd", partition.initrd)];
            for (kind, module) in modules {
                let Some(module) = module else { continue };
                if memory.overlaps(&PhysRange::new(module.pa.0, module.size)) {
                    self.error(
                        node,
                        "memory",
                        format!(
                            "memory {name} overlaps the {kind} module {} of {whose}",
                            span(module.pa.0, module.size)
                        ),
                    );
                }
            }
            if let Some((_, store)) = partition.store.as_ref().filter(|(_, s)| memory.overlaps(s)) {
                self.error(
                    node,
                    "memory",
                    format!(
                        "memory {name} overlaps the checkpoint store {} of {whose}",
                        span(store.start.0, store.size)
                    ),
                );
            }
        }
        let clashes: Vec<String> = mmio
            .iter()
            .filter(|(_, range)| range.overlaps(&memory))
            .map(|(device, range)| format!("{device} ({})", span(range.start.0, range.size)))
            .collect();
        if let Some(first) = clashes.first() {
            let others = match clashes.len() - 1 {
                0 => String::new(),
                more => format!(" and {more} more device ranges"),
            };
            self.error(
                node,
                "memory",
                format!("memory {name} overlaps MMIO of {first}{others}"),
            );
        }
        for other in earlier {
            let Some(theirs) = other.memory.filter(|m| m.overlaps(&memory)) else {
                continue;
            };
            self.error(
                node,
                "memory",
                format!(
                    "memory {name} overlaps the memory {} of {}",
                    span(theirs.start.0, theirs.size),
                    other.name
                ),
            );
        }
    }

    /// Every endpoint is a partition of the layout, and none is an endpoint
    /// of more channels than its virtual PCI bus has slots for (`counts`
    /// holds how many channels, in id order, each already has).
    fn channel_endpoints(
        &mut self,
        channel: &ChannelDraft,
        partitions: &[Draft],
        counts: &mut Vec<(u32, usize)>,
    ) {
        for (index, &id) in channel.endpoints.iter().enumerate() {
            if channel.endpoints.iter().position(|&e| e == id) != Some(index) {
                continue;
            }
            let Some(partition) = partitions.iter().find(|p| p.id == Some(id)) else {
                self.error(
                    &channel.node,
                    "endpoints",
                    format!("partition id {id:#x} is not in the layout"),
                );
                continue;
            };
            let count = match counts.iter_mut().find(|(p, _)| *p == id) {
                Some((_, count)) => {
                    *count += 1;
                    *count
                }
                None => {
                    counts.push((id, 1));
                    1
                }
            };
            if count > MAX_CHANNELS_PER_PARTITION {
                self.error(
                    &channel.node,
                    "endpoints",
                    format!(
                        "{} is already an endpoint of {MAX_CHANNELS_PER_PARTITION} channels with lower ids, the most its virtual PCI bus has slots for",
                        partition.name
                    ),
                );
            }
        }
    }

    /// Where each endpoint sees the channel, against that partition's own
    /// map: its memory, its devices (at IPA == PA), the windows its PCI
    /// functions' BARs lie in, and its channels ordered before this one.
    fn channel_windows(
        &mut self,
        channel: &ChannelDraft,
        partitions: &[Draft],
        earlier: &[&ChannelDraft],
    ) {
        for (index, id, window) in channel.windows() {
            let Some(partition) = partitions.iter().find(|p| p.id == Some(id)) else {
                continue;
            };
            let endpoint = format!("endpoint {index} ({})", partition.name);
            let name = span(window.start.0, window.size);
            let mut clashes: Vec<String> = Vec::new();
            for region in &partition.memory {
                if ranges_overlap(window.start.0, window.size, region.ipa.0, region.size) {
                    clashes.push(format!(
                        "the IPA range {} of its memory region {}",
                        span(region.ipa.0, region.size),
                        span(region.pa.0, region.size)
                    ));
                }
            }
            for device in &partition.devices {
                for reg in &device.regs {
                    let (start, end) = page_span(reg);
                    if ranges_overlap(window.start.0, window.size, start, end - start) {
                        clashes.push(format!(
                            "its device {} ({}), which it sees at IPA == PA",
                            device.path,
                            span(reg.start.0, reg.size)
                        ));
                    }
                }
            }
            let mut hosts: Vec<&str> = Vec::new();
            for function in &partition.pci_functions {
                if !hosts.contains(&function.host.as_str()) {
                    hosts.push(&function.host);
                }
            }
            for host in hosts.iter().filter_map(|path| self.board.pci_host(path)) {
                for bars in host.identity_memory_windows() {
                    if window.overlaps(&bars.cpu) {
                        clashes.push(format!(
                            "{}'s window {}, where its PCI functions' BARs lie",
                            host.path,
                            span(bars.cpu.start.0, bars.cpu.size)
                        ));
                    }
                }
            }
            for other in earlier {
                for (_, _, theirs) in other.windows().filter(|(_, e, _)| *e == id) {
                    if window.overlaps(&theirs) {
                        clashes.push(format!(
                            "the IPA range {} where it sees {}",
                            span(theirs.start.0, theirs.size),
                            other.name
                        ));
                    }
                }
            }
            for clash in clashes {
                self.error(
                    &channel.node,
                    "endpoint-ipa",
                    format!("{endpoint}: IPA range {name} overlaps {clash}"),
                );
            }
        }
    }
}
