//! `parse_layout`: layout binding v1 checked against the board, every problem reported.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::board::{gic_node, mpidr_cells, Board};
use super::channel::partition_channels;
use super::checkpoint::{checkpoint_store_required, CheckpointPolicy, OnFault};
use super::cpu_start::EnableMethod;
use super::dt::{cells_to_u64, DeviceTree, Node};
use super::error::{Issue, LayoutError};
use super::interrupts::device_interrupts;
use super::layout::{
    Device, Layout, MemoryRegion, Module, OnDmaFault, Partition, PciFunction, Stage2Fault,
};
use super::regs::{pci_windows, physical_regs};
use super::virtual_console::UART_COMPATIBLES;
use crate::address::{is_aligned, ranges_overlap, Ipa, PhysAddr, PhysRange, PAGE_SIZE};
use crate::boot_image::{placement, DTB_AREA};

/// The only binding this validator understands.
pub const LAYOUT_COMPATIBLE: &str = "bulkhead,layout-v1";
const LAYOUT_PATH: &str = "/chosen/bulkhead";
/// Cells per `memory` entry: PA, IPA and size, two cells each.
const MEMORY_ENTRY_CELLS: usize = 6;
/// Cells of a boot module (`kernel`, `initrd`): PA and size, two cells each.
const MODULE_CELLS: usize = 4;
/// Cells of `load-address`.
const LOAD_ADDRESS_CELLS: usize = 2;
/// First SPI: INTIDs below are per-core and may appear in several partitions.
const FIRST_SPI: u32 = 32;
/// Name of a partition's optional checkpoint policy node.
const CHECKPOINT_NODE: &str = "checkpoint";
/// Cells of a checkpoint `store`: PA and size, two cells each.
const STORE_CELLS: usize = 4;
const MIB: u64 = 1 << 20;

mod channel;
mod console;
mod pci;
mod virtual_bus;

use channel::{ChannelDraft, CHANNEL_NODE};

/// Checks the layout at `/chosen/bulkhead` of `dtb` (the board DT with the
/// layout overlay applied) against `board`.
///
/// `reserved` is Bulkhead's own RAM area (image, heap, DTB, boot modules);
/// `hypervisor` is the part of it the hypervisor image, heap and stacks use.
/// Returns every problem found; no partition is built if there is any.
pub fn parse_layout(
    dtb: &[u8],
    board: &Board,
    reserved: PhysRange,
    hypervisor: PhysRange,
) -> Result<Layout, Vec<LayoutError>> {
    let tree = DeviceTree::parse(dtb)
        .map_err(|e| alloc::vec![LayoutError::new("/", "dtb", e.to_string())])?;
    let Some(root) = tree.find(LAYOUT_PATH) else {
        return Err(alloc::vec![LayoutError::new(
            "/chosen",
            "bulkhead",
            "is missing: the device tree has no layout node /chosen/bulkhead",
        )]);
    };
    let mut validator = Validator {
        tree: &tree,
        board,
        reserved,
        hypervisor,
        gic: gic_node(&tree),
        mpidr_cells: mpidr_cells(&tree).max(1),
        errors: Vec::new(),
    };
    validator.check_compatible(&root);
    let console = validator.console_uart(&root);
    let mut drafts = Vec::new();
    let mut channel_drafts: Vec<ChannelDraft> = Vec::new();
    for child in root.children() {
        match child.base_name() {
            "partition" => drafts.push(validator.partition(&child)),
            CHANNEL_NODE => channel_drafts.push(validator.channel(&child)),
            _ => validator.error(
                &child.path(),
                "name",
                format!(
                    "unknown node {}: expected partition@<id> or channel@<id>",
                    child.name()
                ),
            ),
        }
    }
    if drafts.is_empty() {
        validator.error(LAYOUT_PATH, "partition@*", "the layout has no partitions");
    }
    validator.cross_check(&drafts);
    validator.cross_check_channels(&drafts, &channel_drafts);
    validator.cross_check_virtual_bus(&drafts, &channel_drafts);
    validator.cross_check_console(&drafts, console.as_ref());
    if !validator.errors.is_empty() {
        // Grouped by node, each node's errors in the order they were found.
        validator.errors.sort_by(|a, b| a.node.cmp(&b.node));
        return Err(validator.errors);
    }
    let mut partitions = Vec::with_capacity(drafts.len());
    for draft in drafts {
        partitions.push(draft.finish().map_err(|e| alloc::vec![e])?);
    }
    partitions.sort_by_key(|p| p.id);
    let mut channels = Vec::with_capacity(channel_drafts.len());
    for draft in channel_drafts {
        channels.push(draft.finish().map_err(|e| alloc::vec![e])?);
    }
    channels.sort_by_key(|c| c.id);
    for partition in &mut partitions {
        partition.channels = partition_channels(&channels, partition.id);
    }
    // Where the boot modules and the guest DT go, assuming the largest DT and
    // no image header (the hypervisor checks again with the real header).
    let errors: Vec<LayoutError> = partitions
        .iter()
        .filter_map(|p| placement(p, None, DTB_AREA).err())
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    // An SPI has one owner: refused here, so `check` and boot agree.
    crate::irq_owner::InterruptOwners::build(&partitions, &[], &[], &[])?;
    let test_hooks = root.property("test-hooks").is_some();
    Ok(Layout {
        partitions,
        channels,
        test_hooks,
        console: console.map(|(uart, _)| uart),
    })
}

/// A partition as read so far; fields stay `None`/partial where an error was reported.
struct Draft {
    node: String,
    /// "partition@1 (beta)", for messages about other partitions.
    name: String,
    id: Option<u32>,
    label: Option<String>,
    cpus: Vec<usize>,
    /// Regions with a non-zero size that do not wrap (kept for overlap checks).
    memory: Vec<MemoryRegion>,
    devices: Vec<Device>,
    kernel: Option<Module>,
    load_address: Option<Ipa>,
    initrd: Option<Module>,
    bootargs: Option<String>,
    /// Path of the `checkpoint` node and its store, if the store is non-zero
    /// and does not wrap (kept for overlap checks even if it has other problems).
    store: Option<(String, PhysRange)>,
    checkpoint: Option<CheckpointPolicy>,
    manages: Vec<u32>,
    pci_functions: Vec<PciFunction>,
    on_dma_fault: OnDmaFault,
    stage2_fault: Stage2Fault,
    /// One of its devices is a UART (else it gets a virtual console).
    owns_uart: bool,
}

impl Draft {
    fn finish(self) -> Result<Partition, LayoutError> {
        let incomplete = |property: &str| {
            LayoutError::new(
                self.node.clone(),
                property,
                "could not be read (validator bug: no error was reported)",
            )
        };
        Ok(Partition {
            id: self.id.ok_or_else(|| incomplete("reg"))?,
            label: self.label.clone().ok_or_else(|| incomplete("label"))?,
            kernel: self.kernel.ok_or_else(|| incomplete("kernel"))?,
            load_address: self
                .load_address
                .ok_or_else(|| incomplete("load-address"))?,
            initrd: self.initrd,
            bootargs: self.bootargs,
            checkpoint: self.checkpoint,
            manages: self.manages,
            pci_functions: self.pci_functions,
            on_dma_fault: self.on_dma_fault,
            stage2_fault: self.stage2_fault,
            virtual_console: !self.owns_uart,
            node: self.node,
            cpus: self.cpus,
            memory: self.memory,
            devices: self.devices,
            channels: Vec::new(),
        })
    }
}

struct Validator<'v, 't, 'a> {
    tree: &'t DeviceTree<'a>,
    board: &'v Board,
    reserved: PhysRange,
    hypervisor: PhysRange,
    gic: Option<Node<'t, 'a>>,
    mpidr_cells: usize,
    errors: Vec<LayoutError>,
}

/// `0x50000000+0x10000000`.
fn span(start: u64, size: u64) -> String {
    format!("{start:#x}+{size:#x}")
}

/// `256 MiB` for whole MiB, else the byte count in hex.
fn human_size(bytes: u64) -> String {
    if bytes != 0 && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes:#x} bytes")
    }
}

/// `[start, end)` of a range widened to whole pages (saturating at the top).
fn page_span(range: &PhysRange) -> (u64, u64) {
    let start = range.start.0 & !(PAGE_SIZE - 1);
    let end = range
        .start
        .0
        .saturating_add(range.size)
        .saturating_add(PAGE_SIZE - 1)
        & !(PAGE_SIZE - 1);
    (start, end.max(start))
}

fn pages_overlap(a: &PhysRange, b: &PhysRange) -> bool {
    let ((a_start, a_end), (b_start, b_end)) = (page_span(a), page_span(b));
    ranges_overlap(a_start, a_end - a_start, b_start, b_end - b_start)
}

impl<'t, 'a> Validator<'_, 't, 'a> {
    fn error(&mut self, node: &str, property: &str, reason: impl Into<String>) {
        self.errors.push(LayoutError::new(node, property, reason));
    }

    fn issue(&mut self, issue: Issue) {
        self.errors.push(issue.into());
    }

    fn check_compatible(&mut self, root: &Node<'_, '_>) {
        let path = root.path();
        match root.property("compatible").map(|p| p.as_str_list()) {
            None => self.error(
                &path,
                "compatible",
                format!("is missing: must be \"{LAYOUT_COMPATIBLE}\""),
            ),
            Some(None) => self.error(&path, "compatible", "must be a list of UTF-8 strings"),
            Some(Some(list)) if list.contains(&LAYOUT_COMPATIBLE) => {}
            Some(Some(list)) => self.error(
                &path,
                "compatible",
                format!(
                    "{:?} is not supported: must be \"{LAYOUT_COMPATIBLE}\"",
                    list.join(",")
                ),
            ),
        }
    }

    /// Reads a list of 32-bit cells, reporting absence or a bad length.
    fn cells(&mut self, node: &Node<'_, '_>, property: &str, required: bool) -> Option<Vec<u32>> {
        let Some(value) = node.property(property) else {
            if required {
                self.error(&node.path(), property, "is missing");
            }
            return None;
        };
        let cells = value.as_cells();
        if cells.is_none() {
            self.error(
                &node.path(),
                property,
                format!(
                    "must be a list of 32-bit cells, not {:#x} bytes",
                    value.value.len()
                ),
            );
        }
        cells
    }

    fn partition(&mut self, node: &Node<'t, 'a>) -> Draft {
        let path = node.path();
        let id = match node.property("reg") {
            None => {
                self.error(&path, "reg", "is missing: it gives the partition id");
                None
            }
            Some(reg) => {
                let id = reg.as_u32();
                if id.is_none() {
                    self.error(&path, "reg", "must be one 32-bit cell (the partition id)");
                }
                id
            }
        };
        let label = match node.property("label").map(|p| p.as_str()) {
            None => {
                self.error(
                    &path,
                    "label",
                    "is missing: every partition needs a unique name",
                );
                None
            }
            Some(None) => {
                self.error(&path, "label", "must be one UTF-8 string");
                None
            }
            Some(Some("")) => {
                self.error(&path, "label", "is empty");
                None
            }
            Some(Some(label)) => Some(String::from(label)),
        };
        let name = match &label {
            Some(label) => format!("{} ({label})", node.name()),
            None => String::from(node.name()),
        };
        let mut draft = Draft {
            node: path,
            name,
            id,
            label,
            cpus: Vec::new(),
            memory: Vec::new(),
            devices: Vec::new(),
            kernel: None,
            load_address: None,
            initrd: None,
            bootargs: None,
            store: None,
            checkpoint: None,
            manages: Vec::new(),
            pci_functions: Vec::new(),
            on_dma_fault: OnDmaFault::default(),
            stage2_fault: Stage2Fault::default(),
            owns_uart: false,
        };
        let errors_before = self.errors.len();
        self.cpus(node, &mut draft);
        let cpus_ok = self.errors.len() == errors_before;
        self.devices(node, &mut draft);
        let memory_ok = self.memory(node, &mut draft);
        self.kernel(node, &mut draft, memory_ok);
        self.linux_boot(node, &mut draft);
        self.checkpoint(node, &mut draft, memory_ok && cpus_ok);
        self.manages(node, &mut draft);
        self.pci_functions(node, &mut draft);
        self.on_dma_fault(node, &mut draft);
        self.stage2_fault(node, &mut draft);
        draft
    }

    /// Reads `stage2-fault`.
    fn stage2_fault(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let choices = "must be \"deliver\" or \"stop\"";
        draft.stage2_fault = match node.property("stage2-fault").map(|p| p.as_str()) {
            None => Stage2Fault::default(),
            Some(None) => {
                self.error(
                    &draft.node,
                    "stage2-fault",
                    format!("must be one UTF-8 string: {choices}"),
                );
                Stage2Fault::default()
            }
            Some(Some(name)) => Stage2Fault::from_name(name).unwrap_or_else(|| {
                self.error(
                    &draft.node,
                    "stage2-fault",
                    format!("{name:?} is unknown: {choices}"),
                );
                Stage2Fault::default()
            }),
        };
    }

    /// The optional `checkpoint { store; interval-ms; on-fault; }` child.
    /// `sized` says whether the partition's memory and CPUs were read
    /// without error, so that the store's required size is meaningful.
    fn checkpoint(&mut self, node: &Node<'_, '_>, draft: &mut Draft, sized: bool) {
        let mut found = node.children().filter(|c| c.base_name() == CHECKPOINT_NODE);
        let Some(checkpoint) = found.next() else {
            return;
        };
        for extra in found {
            self.error(
                &extra.path(),
                "name",
                "a partition has at most one checkpoint node",
            );
        }
        let path = checkpoint.path();
        let errors_before = self.errors.len();
        let store = self.store(&checkpoint, draft, sized);
        let interval_ms = match checkpoint.property("interval-ms").map(|p| p.as_u32()) {
            None => None,
            Some(None) => {
                self.error(
                    &path,
                    "interval-ms",
                    "must be one 32-bit cell (the period in milliseconds)",
                );
                None
            }
            Some(Some(0)) => {
                self.error(
                    &path,
                    "interval-ms",
                    "is 0: a period must be at least 1 ms (leave it out to checkpoint only on request)",
                );
                None
            }
            Some(Some(ms)) => Some(ms),
        };
        let choices = "must be \"stop\", \"restart\" or \"restore\"";
        let on_fault = match checkpoint.property("on-fault").map(|p| p.as_str()) {
            None => OnFault::default(),
            Some(None) => {
                self.error(
                    &path,
                    "on-fault",
                    format!("must be one UTF-8 string: {choices}"),
                );
                OnFault::default()
            }
            Some(Some(name)) => OnFault::from_name(name).unwrap_or_else(|| {
                self.error(&path, "on-fault", format!("{name:?} is unknown: {choices}"));
                OnFault::default()
            }),
        };
        if let (Some(store), true) = (store, self.errors.len() == errors_before) {
            draft.checkpoint = Some(CheckpointPolicy {
                store,
                interval_ms,
                on_fault,
            });
        }
    }

    /// Reads and checks a checkpoint node's `store` against the board, the
    /// reserved area and the partition's size; overlaps with partitions and
    /// modules are checked later, in `cross_check`.
    fn store(
        &mut self,
        checkpoint: &Node<'_, '_>,
        draft: &mut Draft,
        sized: bool,
    ) -> Option<PhysRange> {
        let path = checkpoint.path();
        if checkpoint.property("store").is_none() {
            self.error(
                &path,
                "store",
                "is missing: give the checkpoint store's PA and size (2 cells each)",
            );
            return None;
        }
        let cells = self.cells(checkpoint, "store", true)?;
        if cells.len() != STORE_CELLS {
            self.error(
                &path,
                "store",
                format!(
                    "has {:#x} cells: must be {STORE_CELLS} (PA and size, 2 cells each)",
                    cells.len()
                ),
            );
            return None;
        }
        let value = |i: usize| cells_to_u64(cells.get(i..i + 2).unwrap_or(&[])).unwrap_or(0);
        let range = PhysRange::new(value(0), value(2));
        let name = span(range.start.0, range.size);
        if range.size == 0 {
            self.error(&path, "store", format!("store {name} has zero size"));
            return None;
        }
        if range.end().is_none() {
            self.error(
                &path,
                "store",
                format!("store {name} wraps the physical address space"),
            );
            return None;
        }
        draft.store = Some((path.clone(), range));
        let errors_before = self.errors.len();
        for (what, value) in [("PA", range.start.0), ("size", range.size)] {
            if !is_aligned(value, PAGE_SIZE) {
                self.error(
                    &path,
                    "store",
                    format!("store {name}: {what} {value:#x} is not 4 KiB aligned"),
                );
            }
        }
        if !self.board.ram.iter().any(|ram| ram.contains_range(&range)) {
            self.error(
                &path,
                "store",
                format!("store {name} does not lie inside one RAM range of the board"),
            );
        }
        if range.overlaps(&self.reserved) {
            self.error(
                &path,
                "store",
                format!(
                    "store {name} overlaps Bulkhead's reserved area {}",
                    span(self.reserved.start.0, self.reserved.size)
                ),
            );
        }
        let mmio: Vec<String> = self
            .board
            .mmio
            .iter()
            .filter(|m| m.range.overlaps(&range))
            .map(|m| format!("{} ({})", m.node, span(m.range.start.0, m.range.size)))
            .collect();
        if let Some(first) = mmio.first() {
            let others = match mmio.len() - 1 {
                0 => String::new(),
                more => format!(" and {more} more device ranges"),
            };
            self.error(
                &path,
                "store",
                format!("store {name} overlaps MMIO of {first}{others}"),
            );
        }
        let memory = draft
            .memory
            .iter()
            .fold(0u64, |sum, r| sum.saturating_add(r.size));
        let required = checkpoint_store_required(memory, draft.cpus.len());
        if sized && range.size < required {
            self.error(
                &path,
                "store",
                format!(
                    "store {name} is too small: needs at least {required:#x} bytes for two checkpoints of {} and {} vCPUs, has {:#x}",
                    human_size(memory),
                    draft.cpus.len(),
                    range.size
                ),
            );
        }
        (self.errors.len() == errors_before).then_some(range)
    }

    /// The optional `manages = <id ...>`; whether each id exists is checked
    /// in `cross_check`, once every partition's id is known.
    fn manages(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let Some(ids) = self.cells(node, "manages", false) else {
            return;
        };
        if ids.is_empty() {
            self.error(
                &draft.node,
                "manages",
                "is empty: list the ids of the partitions this one may checkpoint and restore, or leave it out",
            );
            return;
        }
        for id in ids {
            if draft.manages.contains(&id) {
                self.error(
                    &draft.node,
                    "manages",
                    format!("partition id {id:#x} is listed twice"),
                );
            } else {
                draft.manages.push(id);
            }
        }
    }

    fn cpus(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let Some(cells) = self.cells(node, "cpus", true) else {
            return;
        };
        if cells.is_empty() {
            self.error(
                &draft.node,
                "cpus",
                "is empty: a partition needs at least one CPU",
            );
            return;
        }
        if cells.len() % self.mpidr_cells != 0 {
            self.error(
                &draft.node,
                "cpus",
                format!(
                    "has {:#x} cells, not a multiple of /cpus #address-cells ({:#x})",
                    cells.len(),
                    self.mpidr_cells
                ),
            );
            return;
        }
        for chunk in cells.chunks_exact(self.mpidr_cells) {
            let Some(mpidr) = cells_to_u64(chunk) else {
                self.error(&draft.node, "cpus", "has an MPIDR wider than 64 bits");
                continue;
            };
            match self.board.cpus.iter().position(|c| c.mpidr == mpidr) {
                None => self.error(
                    &draft.node,
                    "cpus",
                    format!("cpu {mpidr:#x} is not in the board's /cpus"),
                ),
                Some(index) if draft.cpus.contains(&index) => self.error(
                    &draft.node,
                    "cpus",
                    format!("cpu {mpidr:#x} is listed twice"),
                ),
                Some(index) => draft.cpus.push(index),
            }
        }
    }

    /// Why a board node may not be given to a partition, if it may not.
    fn forbidden_device(&self, device: &Node<'_, '_>) -> Option<&'static str> {
        let within = |path: &str| self.tree.find(path).is_some_and(|n| device.is_within(&n));
        if device.parent().is_none() {
            return Some("is the root node");
        }
        if within("/chosen") || within("/aliases") || within("/cpus") {
            return Some("is not a device");
        }
        if device.property("device_type").and_then(|p| p.as_str()) == Some("memory") {
            return Some("is RAM: give it to a partition through memory");
        }
        if self.gic.is_some_and(|gic| device.is_within(&gic)) {
            return Some("is part of the GIC, which Bulkhead owns");
        }
        if device.is_compatible("arm,smmu-v3") {
            return Some("is the SMMU, which Bulkhead owns");
        }
        None
    }

    fn devices(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        let Some(value) = node.property("devices") else {
            return;
        };
        let Some(paths) = value.as_str_list() else {
            self.error(
                &draft.node,
                "devices",
                "must be a list of UTF-8 strings (board DT paths)",
            );
            return;
        };
        for requested in paths {
            let Some(device) = self.tree.resolve(requested) else {
                self.error(
                    &draft.node,
                    "devices",
                    format!("{requested:?} is not in the board device tree"),
                );
                continue;
            };
            if let Some(reason) = self.forbidden_device(&device) {
                self.error(&draft.node, "devices", format!("{requested} {reason}"));
                continue;
            }
            let path = device.path();
            if draft.devices.iter().any(|d| d.path == path) {
                self.error(&draft.node, "devices", format!("{path} is listed twice"));
                continue;
            }
            let regs = match physical_regs(&device) {
                Ok(regs) => regs.unwrap_or_default(),
                Err(issue) => {
                    self.issue(issue);
                    continue;
                }
            };
            let regs = match pci_windows(&device) {
                Ok(windows) => regs.into_iter().chain(windows).collect(),
                Err(issue) => {
                    self.issue(issue);
                    continue;
                }
            };
            let interrupts = match device_interrupts(self.tree, &device, self.gic.as_ref()) {
                Ok(interrupts) => interrupts,
                Err(issue) => {
                    self.issue(issue);
                    continue;
                }
            };
            let dma_capable = ["dma-coherent", "iommus", "iommu-map"]
                .iter()
                .any(|name| device.property(name).is_some())
                || device.property("device_type").and_then(|p| p.as_str()) == Some("pci");
            draft.owns_uart |= UART_COMPATIBLES.iter().any(|c| device.is_compatible(c));
            draft.devices.push(Device {
                path,
                regs,
                interrupts,
                dma_capable,
            });
        }
    }

    /// Reads and checks `memory`; true when it had no problem.
    fn memory(&mut self, node: &Node<'_, '_>, draft: &mut Draft) -> bool {
        let errors_before = self.errors.len();
        let Some(cells) = self.cells(node, "memory", true) else {
            return false;
        };
        if cells.is_empty() {
            self.error(&draft.node, "memory", "is empty: a partition needs memory");
            return false;
        }
        if cells.len() % MEMORY_ENTRY_CELLS != 0 {
            self.error(
                &draft.node,
                "memory",
                format!(
                    "has {:#x} cells, not a multiple of 6 (PA, IPA and size, 2 cells each)",
                    cells.len()
                ),
            );
            return false;
        }
        for entry in cells.chunks_exact(MEMORY_ENTRY_CELLS) {
            let value = |i: usize| cells_to_u64(entry.get(i..i + 2).unwrap_or(&[])).unwrap_or(0);
            let region = MemoryRegion {
                pa: PhysAddr(value(0)),
                ipa: Ipa(value(2)),
                size: value(4),
            };
            if self.memory_region(draft, &region) {
                draft.memory.push(region);
            }
        }
        self.errors.len() == errors_before
    }

    /// Checks one region against the board and the partition's earlier
    /// regions and devices; false if it is too broken to compare with others.
    fn memory_region(&mut self, draft: &Draft, region: &MemoryRegion) -> bool {
        let node = draft.node.as_str();
        let (pa, ipa, size) = (region.pa.0, region.ipa.0, region.size);
        let name = span(pa, size);
        if size == 0 {
            self.error(node, "memory", format!("region {name} has zero size"));
            return false;
        }
        for (what, value) in [("PA", pa), ("IPA", ipa), ("size", size)] {
            if !is_aligned(value, PAGE_SIZE) {
                self.error(
                    node,
                    "memory",
                    format!("region {name}: {what} {value:#x} is not 4 KiB aligned"),
                );
            }
        }
        if pa.checked_add(size).is_none() {
            self.error(
                node,
                "memory",
                format!("region {name} wraps the physical address space"),
            );
            return false;
        }
        if ipa.checked_add(size).is_none() {
            self.error(
                node,
                "memory",
                format!(
                    "region {name}: IPA {} wraps the address space",
                    span(ipa, size)
                ),
            );
            return false;
        }
        let range = PhysRange::new(pa, size);
        if !self.board.ram.iter().any(|ram| ram.contains_range(&range)) {
            self.error(
                node,
                "memory",
                format!("region {name} does not lie inside one RAM range of the board"),
            );
        }
        if range.overlaps(&self.reserved) {
            self.error(
                node,
                "memory",
                format!(
                    "region {name} overlaps Bulkhead's reserved area {}",
                    span(self.reserved.start.0, self.reserved.size)
                ),
            );
        }
        // A parked core jumps to whatever non-zero value its release word
        // takes, at EL2: a guest image copied over it would run there.
        for cpu in &self.board.cpus {
            if let EnableMethod::SpinTable { release } = cpu.enable_method {
                if range.overlaps(&PhysRange::new(release.0, 8)) {
                    self.error(
                        node,
                        "memory",
                        format!(
                            "region {name} holds the spin-table release word of {} ({:#x}), which that core waits on at EL2",
                            cpu.path, release.0
                        ),
                    );
                }
            }
        }
        let mut mmio = self.board.mmio.iter().filter(|m| m.range.overlaps(&range));
        if let Some(first) = mmio.next() {
            let more = mmio.count();
            let others = if more > 0 {
                format!(" and {more} more device ranges")
            } else {
                String::new()
            };
            self.error(
                node,
                "memory",
                format!(
                    "region {name} overlaps MMIO of {} ({}){others}",
                    first.node,
                    span(first.range.start.0, first.range.size)
                ),
            );
        }
        for other in &draft.memory {
            if ranges_overlap(pa, size, other.pa.0, other.size) {
                self.error(
                    node,
                    "memory",
                    format!(
                        "region {name} overlaps region {} of the same partition",
                        span(other.pa.0, other.size)
                    ),
                );
            }
            if ranges_overlap(ipa, size, other.ipa.0, other.size) {
                self.error(
                    node,
                    "memory",
                    format!(
                        "IPA range {} of region {name} overlaps the IPA range {} of region {}",
                        span(ipa, size),
                        span(other.ipa.0, other.size),
                        span(other.pa.0, other.size)
                    ),
                );
            }
        }
        for device in &draft.devices {
            for reg in &device.regs {
                let (start, end) = page_span(reg);
                if ranges_overlap(ipa, size, start, end - start) {
                    self.error(
                        node,
                        "memory",
                        format!(
                            "IPA range {} of region {name} overlaps device {} ({}), which is mapped at IPA == PA",
                            span(ipa, size),
                            device.path,
                            span(reg.start.0, reg.size)
                        ),
                    );
                }
            }
        }
        true
    }

    /// Reads a boot module property (`kernel`, `initrd`): PA and size, two
    /// cells each, non-zero, not wrapping. Also reports (but still returns)
    /// a module outside RAM or over the hypervisor's own memory.
    fn module(&mut self, node: &Node<'_, '_>, property: &str, required: bool) -> Option<Module> {
        let path = node.path();
        let cells = self.cells(node, property, required)?;
        if cells.len() != MODULE_CELLS {
            self.error(
                &path,
                property,
                format!(
                    "has {:#x} cells: must be {MODULE_CELLS} (PA and size, 2 cells each)",
                    cells.len()
                ),
            );
            return None;
        }
        let value = |i: usize| cells_to_u64(cells.get(i..i + 2).unwrap_or(&[])).unwrap_or(0);
        let module = Module {
            pa: PhysAddr(value(0)),
            size: value(2),
        };
        let name = span(module.pa.0, module.size);
        if module.size == 0 {
            self.error(&path, property, format!("module {name} has zero size"));
            return None;
        }
        let range = PhysRange::new(module.pa.0, module.size);
        if range.end().is_none() {
            self.error(
                &path,
                property,
                format!("module {name} wraps the physical address space"),
            );
            return None;
        }
        if !self.board.ram.iter().any(|ram| ram.contains_range(&range)) {
            self.error(
                &path,
                property,
                format!("module {name} does not lie inside one RAM range of the board"),
            );
        }
        if range.overlaps(&self.hypervisor) {
            self.error(
                &path,
                property,
                format!(
                    "module {name} overlaps the hypervisor's image, heap and stacks {}",
                    span(self.hypervisor.start.0, self.hypervisor.size)
                ),
            );
        }
        Some(module)
    }

    /// The optional `initrd` module and `bootargs` string.
    fn linux_boot(&mut self, node: &Node<'_, '_>, draft: &mut Draft) {
        draft.initrd = self.module(node, "initrd", false);
        draft.bootargs = match node.property("bootargs").map(|p| p.as_str()) {
            None => None,
            Some(Some(bootargs)) => Some(String::from(bootargs)),
            Some(None) => {
                self.error(
                    &draft.node,
                    "bootargs",
                    "must be one UTF-8 string (the guest kernel's command line)",
                );
                None
            }
        };
    }

    fn kernel(&mut self, node: &Node<'_, '_>, draft: &mut Draft, memory_ok: bool) {
        let path = draft.node.clone();
        let explicit_load = node.property("load-address").is_some();
        if let Some(cells) = self.cells(node, "load-address", false) {
            match cells.as_slice() {
                [_, _] => draft.load_address = cells_to_u64(&cells).map(Ipa),
                _ => self.error(
                    &path,
                    "load-address",
                    format!(
                        "has {:#x} cells: must be {LOAD_ADDRESS_CELLS} (an IPA)",
                        cells.len()
                    ),
                ),
            }
        } else if !explicit_load {
            draft.load_address = draft.memory.first().map(|r| r.ipa);
        }
        let Some(module) = self.module(node, "kernel", true) else {
            return;
        };
        let name = span(module.pa.0, module.size);
        draft.kernel = Some(module);
        // Whether the image fits where it is copied; meaningless if memory is broken.
        if let (Some(load), true) = (draft.load_address, memory_ok) {
            let fits = load.0.checked_add(module.size).is_some_and(|end| {
                draft.memory.iter().any(|r| {
                    load.0 >= r.ipa.0 && r.ipa.0.checked_add(r.size).is_some_and(|e| end <= e)
                })
            });
            if !fits {
                let property = if explicit_load {
                    "load-address"
                } else {
                    "kernel"
                };
                self.error(
                    &path,
                    property,
                    format!(
                        "module {name} does not fit at load address {:#x}: {} is not inside one memory region's IPA range",
                        load.0,
                        span(load.0, module.size)
                    ),
                );
            }
        }
    }

    /// Checks between partitions; each clash is reported on the one with the
    /// higher id (fdtoverlay may reverse node order, ids are stable).
    fn cross_check(&mut self, drafts: &[Draft]) {
        let mut ordered: Vec<&Draft> = drafts.iter().collect();
        ordered.sort_by_key(|d| (d.id.is_none(), d.id));
        for (later_index, later) in ordered.iter().enumerate() {
            let node = later.node.as_str();
            for earlier in ordered.iter().take(later_index) {
                let other = earlier.name.as_str();
                if let (Some(a), Some(b)) = (later.id, earlier.id) {
                    if a == b {
                        self.error(
                            node,
                            "reg",
                            format!("partition id {a:#x} is also used by {other}"),
                        );
                    }
                }
                if let (Some(a), Some(b)) = (&later.label, &earlier.label) {
                    if a == b {
                        self.error(
                            node,
                            "label",
                            format!("label {a:?} is also used by {other}"),
                        );
                    }
                }
                for cpu in later.cpus.iter().filter(|c| earlier.cpus.contains(c)) {
                    let mpidr = self.board.cpus.get(*cpu).map_or(0, |c| c.mpidr);
                    self.error(node, "cpus", format!("cpu {mpidr:#x} is also in {other}"));
                }
                for region in &later.memory {
                    for theirs in earlier
                        .memory
                        .iter()
                        .filter(|r| ranges_overlap(region.pa.0, region.size, r.pa.0, r.size))
                    {
                        self.error(
                            node,
                            "memory",
                            format!(
                                "region {} overlaps {other}, at its region {}",
                                span(region.pa.0, region.size),
                                span(theirs.pa.0, theirs.size)
                            ),
                        );
                    }
                }
                self.cross_check_devices(later, earlier);
            }
            self.cross_check_pci(later, &ordered[..later_index]);
            self.cross_check_modules(later, drafts);
            self.cross_check_store(later, drafts);
            self.cross_check_manages(later, drafts);
        }
    }

    /// A partition's checkpoint store against every partition's memory and
    /// boot modules, and against the stores of partitions ordered before it
    /// (so that two clashing stores are reported once).
    fn cross_check_store(&mut self, later: &Draft, drafts: &[Draft]) {
        let Some((node, store)) = &later.store else {
            return;
        };
        let name = span(store.start.0, store.size);
        let later_key = (later.id.is_none(), later.id, &later.node);
        for other in drafts {
            let same = other.node == later.node;
            let whose = if same {
                String::from("this partition")
            } else {
                other.name.clone()
            };
            for region in other
                .memory
                .iter()
                .filter(|r| store.overlaps(&PhysRange::new(r.pa.0, r.size)))
            {
                self.error(
                    node,
                    "store",
                    format!(
                        "store {name} overlaps the memory of {whose}, at its region {}",
                        span(region.pa.0, region.size)
                    ),
                );
            }
            let modules = [("kernel", other.kernel), ("initrd", other.initrd)];
            for (kind, module) in modules {
                let Some(module) = module else { continue };
                if store.overlaps(&PhysRange::new(module.pa.0, module.size)) {
                    self.error(
                        node,
                        "store",
                        format!(
                            "store {name} overlaps the {kind} module {} of {whose}",
                            span(module.pa.0, module.size)
                        ),
                    );
                }
            }
            let Some((_, theirs)) = &other.store else {
                continue;
            };
            if !same
                && (other.id.is_none(), other.id, &other.node) < later_key
                && store.overlaps(theirs)
            {
                self.error(
                    node,
                    "store",
                    format!(
                        "store {name} overlaps the checkpoint store {} of {whose}",
                        span(theirs.start.0, theirs.size)
                    ),
                );
            }
        }
    }

    /// Every id in `manages` names another partition of the layout.
    fn cross_check_manages(&mut self, later: &Draft, drafts: &[Draft]) {
        for &id in &later.manages {
            if later.id == Some(id) {
                self.error(
                    &later.node,
                    "manages",
                    format!("partition id {id:#x} is this partition itself: a partition may always checkpoint and restore itself"),
                );
            } else if !drafts.iter().any(|d| d.id == Some(id)) {
                self.error(
                    &later.node,
                    "manages",
                    format!("partition id {id:#x} is not in the layout"),
                );
            }
        }
    }

    /// A partition's boot modules against every partition's memory, and its
    /// initrd against every other module (kernels may be shared: each
    /// partition copies its own; an initrd may be shared only with another
    /// partition's identical initrd).
    fn cross_check_modules(&mut self, later: &Draft, drafts: &[Draft]) {
        let node = later.node.as_str();
        let modules = [("kernel", later.kernel), ("initrd", later.initrd)];
        for (property, module) in modules {
            let Some(module) = module else { continue };
            let range = PhysRange::new(module.pa.0, module.size);
            let name = span(module.pa.0, module.size);
            for owner in drafts {
                if owner
                    .memory
                    .iter()
                    .any(|r| range.overlaps(&PhysRange::new(r.pa.0, r.size)))
                {
                    self.error(
                        node,
                        property,
                        format!("module {name} overlaps the memory of {}", owner.name),
                    );
                }
            }
        }
        let Some(initrd) = later.initrd else { return };
        let range = PhysRange::new(initrd.pa.0, initrd.size);
        let name = span(initrd.pa.0, initrd.size);
        for other in drafts {
            let same = other.node == later.node;
            let whose = if same {
                String::from("this partition")
            } else {
                other.name.clone()
            };
            let others = [("kernel", other.kernel), ("initrd", other.initrd)];
            for (kind, module) in others {
                let Some(module) = module else { continue };
                let shared_initrd = kind == "initrd" && module == initrd;
                // Two initrds clashing are reported once, on the later partition.
                let reported_there =
                    kind == "initrd" && (other.id, &other.node) > (later.id, &later.node);
                if (same && kind == "initrd") || shared_initrd || reported_there {
                    continue;
                }
                if range.overlaps(&PhysRange::new(module.pa.0, module.size)) {
                    self.error(
                        node,
                        "initrd",
                        format!(
                            "module {name} overlaps the {kind} module {} of {whose}",
                            span(module.pa.0, module.size)
                        ),
                    );
                }
            }
        }
    }

    fn cross_check_devices(&mut self, later: &Draft, earlier: &Draft) {
        let (node, other) = (later.node.as_str(), earlier.name.as_str());
        for device in &later.devices {
            if earlier.devices.iter().any(|d| d.path == device.path) {
                self.error(
                    node,
                    "devices",
                    format!("{} is also assigned to {other}", device.path),
                );
                continue;
            }
            for theirs in &earlier.devices {
                let shares_page = device
                    .regs
                    .iter()
                    .any(|a| theirs.regs.iter().any(|b| pages_overlap(a, b)));
                if shares_page {
                    self.error(
                        node,
                        "devices",
                        format!(
                            "{} shares a 4 KiB MMIO page with {} of {other}",
                            device.path, theirs.path
                        ),
                    );
                }
                for intid in device
                    .interrupts
                    .iter()
                    .filter(|i| **i >= FIRST_SPI && theirs.interrupts.contains(i))
                {
                    self.error(
                        node,
                        "devices",
                        format!(
                            "{} uses interrupt {intid:#x}, as does {} of {other}",
                            device.path, theirs.path
                        ),
                    );
                }
            }
        }
    }
}
