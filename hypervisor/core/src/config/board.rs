//! The board: CPUs, RAM, MMIO, GIC and console, read from the board device tree.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::cpu_start::{enable_method, firmware_psci, EnableMethod};
use super::dt::{DeviceTree, Node};
use super::error::{BoardError, Issue};
use super::pci_host::{pci_hosts, smmus, PciHost, SmmuNode};
use super::regs::{cell_counts, physical_regs, raw_regs};
use crate::address::PhysRange;

/// One `/cpus/cpu@*` node. Its index in [`Board::cpus`] is the logical CPU id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardCpu {
    pub path: String,
    /// The node's `reg`: the core's MPIDR affinity fields.
    pub mpidr: u64,
    /// How the boot CPU starts it (its `enable-method`).
    pub enable_method: EnableMethod,
}

/// One `reg` entry of a device node, as a physical range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmioRegion {
    /// Full path of the device node.
    pub node: String,
    pub range: PhysRange,
}

/// Where the GICv3 sits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GicV3 {
    pub distributor: PhysRange,
    /// The (first) redistributor region.
    pub redistributors: PhysRange,
}

/// Where the GICv2 sits: its `reg` lists the distributor (GICD), the CPU
/// interface (GICC) and, with the virtualization extensions, the virtual
/// interface control (GICH) and the virtual CPU interface (GICV).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GicV2 {
    pub distributor: PhysRange,
    pub cpu_interface: PhysRange,
    /// GICH; `None` on a GIC without the virtualization extensions.
    pub hypervisor_interface: Option<PhysRange>,
    /// GICV: what Bulkhead maps at the guest's GICC address.
    pub virtual_cpu_interface: Option<PhysRange>,
}

/// The board's interrupt controller, by architecture version (from the
/// node's `compatible`: one hypervisor image serves both).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gic {
    V3(GicV3),
    V2(GicV2),
}

impl Gic {
    /// The distributor, which both versions have.
    pub fn distributor(&self) -> PhysRange {
        match self {
            Gic::V3(gic) => gic.distributor,
            Gic::V2(gic) => gic.distributor,
        }
    }
}

/// `compatible` strings of a GICv3.
pub const GICV3_COMPATIBLE: [&str; 1] = ["arm,gic-v3"];
/// `compatible` strings of a GICv2 (QEMU virt says cortex-a15-gic; the
/// Raspberry Pi 4's GIC-400 says gic-400).
pub const GICV2_COMPATIBLE: [&str; 3] = ["arm,cortex-a15-gic", "arm,gic-400", "arm,gic-v2"];

/// What the hypervisor needs to know about the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Board {
    /// CPU nodes in device-tree order.
    pub cpus: Vec<BoardCpu>,
    /// `reg` of every `device_type = "memory"` node.
    pub ram: Vec<PhysRange>,
    /// `reg` of every device node (see [`parse_board`]).
    pub mmio: Vec<MmioRegion>,
    pub gic: Option<Gic>,
    /// The device `/chosen/stdout-path` names.
    pub console: Option<PhysRange>,
    /// Generic ECAM PCI host bridges.
    pub pci_hosts: Vec<PciHost>,
    /// SMMUv3s (Bulkhead owns them).
    pub smmus: Vec<SmmuNode>,
    /// Whether the firmware implements PSCI (a `/psci` node, SMC conduit).
    pub firmware_psci: bool,
}

impl Board {
    /// The GIC if it is a GICv3.
    pub fn gic_v3(&self) -> Option<&GicV3> {
        match &self.gic {
            Some(Gic::V3(gic)) => Some(gic),
            _ => None,
        }
    }

    /// The GIC if it is a GICv2.
    pub fn gic_v2(&self) -> Option<&GicV2> {
        match &self.gic {
            Some(Gic::V2(gic)) => Some(gic),
            _ => None,
        }
    }

    /// The host bridge at DT path `path`.
    pub fn pci_host(&self, path: &str) -> Option<&PciHost> {
        self.pci_hosts.iter().find(|host| host.path == path)
    }
}

/// Root children that are not devices.
const NOT_DEVICES: [&str; 5] = ["memory", "cpus", "chosen", "aliases", "reserved-memory"];

/// Reads the board from a DTB.
///
/// `mmio` holds the `reg` of every root child except memory, cpus, chosen,
/// aliases and reserved-memory, plus the children of `simple-bus` nodes
/// (translated through `ranges`) and of the GIC (such as its ITS).
pub fn parse_board(dtb: &[u8]) -> Result<Board, BoardError> {
    let tree = DeviceTree::parse(dtb)?;
    Ok(Board {
        cpus: cpus(&tree)?,
        ram: ram(&tree)?,
        mmio: mmio(&tree)?,
        gic: gic(&tree)?,
        console: console(&tree)?,
        pci_hosts: pci_hosts(&tree)?,
        smmus: smmus(&tree)?,
        firmware_psci: firmware_psci(&tree)?,
    })
}

fn is_memory(node: &Node<'_, '_>) -> bool {
    node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
}

fn cpus(tree: &DeviceTree<'_>) -> Result<Vec<BoardCpu>, BoardError> {
    let cpus_node = tree.find("/cpus").ok_or(BoardError::MissingNode("/cpus"))?;
    let mut cpus: Vec<BoardCpu> = Vec::new();
    for node in cpus_node.children() {
        let is_cpu = node.property("device_type").and_then(|p| p.as_str()) == Some("cpu")
            || node.base_name() == "cpu";
        if !is_cpu {
            continue;
        }
        let regs = raw_regs(&node)?.unwrap_or_default();
        // A core with several threads lists several MPIDRs; the first names the core.
        let Some(&(mpidr, _)) = regs.first() else {
            return Err(Issue::new(node.path(), "reg", "is missing: a CPU needs its MPIDR").into());
        };
        if let Some(other) = cpus.iter().find(|c| c.mpidr == mpidr) {
            return Err(Issue::new(
                node.path(),
                "reg",
                format!("MPIDR {mpidr:#x} is also used by {}", other.path),
            )
            .into());
        }
        cpus.push(BoardCpu {
            path: node.path(),
            mpidr,
            enable_method: enable_method(&node)?,
        });
    }
    if cpus.is_empty() {
        return Err(Issue::new("/cpus", "cpu@*", "the board has no CPU nodes").into());
    }
    Ok(cpus)
}

fn ram(tree: &DeviceTree<'_>) -> Result<Vec<PhysRange>, BoardError> {
    let root = tree.root().ok_or(BoardError::MissingNode("/"))?;
    let mut ram = Vec::new();
    let mut empty_node = None;
    for node in root.children().filter(is_memory) {
        let regs = physical_regs(&node)?.unwrap_or_default();
        if regs.iter().all(|r| r.size == 0) {
            empty_node.get_or_insert_with(|| node.path());
        }
        ram.extend(regs.into_iter().filter(|r| r.size != 0));
    }
    if ram.is_empty() {
        // The Raspberry Pi's DT ships `reg = <0 0 0>` for its firmware to fill in.
        return Err(match empty_node {
            Some(node) => Issue::new(
                node,
                "reg",
                "has no RAM in it (size 0): the board's firmware or loader fills it in; give Bulkhead the DT it completed",
            )
            .into(),
            None => BoardError::MissingNode("/memory"),
        });
    }
    Ok(ram)
}

fn mmio(tree: &DeviceTree<'_>) -> Result<Vec<MmioRegion>, BoardError> {
    let root = tree.root().ok_or(BoardError::MissingNode("/"))?;
    let mut regions = Vec::new();
    // Explicit stack instead of recursion: bus nesting depth is input-controlled.
    let mut pending: Vec<Node<'_, '_>> = root
        .children()
        .filter(|n| !NOT_DEVICES.contains(&n.base_name()) && !is_memory(n))
        .collect();
    pending.reverse();
    while let Some(node) = pending.pop() {
        for range in physical_regs(&node)?.unwrap_or_default() {
            regions.push(MmioRegion {
                node: node.path(),
                range,
            });
        }
        if node.is_compatible("simple-bus") || is_gic(&node) {
            let mut children: Vec<_> = node.children().collect();
            children.reverse();
            pending.extend(children);
        }
    }
    Ok(regions)
}

/// Whether `node` is a GICv3 or a GICv2.
pub(crate) fn is_gic(node: &Node<'_, '_>) -> bool {
    GICV3_COMPATIBLE
        .iter()
        .chain(GICV2_COMPATIBLE.iter())
        .any(|compatible| node.is_compatible(compatible))
}

/// The first GICv3 or GICv2 node.
pub(crate) fn gic_node<'t, 'a>(tree: &'t DeviceTree<'a>) -> Option<Node<'t, 'a>> {
    tree.nodes().find(is_gic)
}

fn gic(tree: &DeviceTree<'_>) -> Result<Option<Gic>, BoardError> {
    let Some(node) = gic_node(tree) else {
        return Ok(None);
    };
    let regs = physical_regs(&node)?.unwrap_or_default();
    let v3 = GICV3_COMPATIBLE.iter().any(|c| node.is_compatible(c));
    match (v3, regs.as_slice()) {
        (true, [distributor, redistributors, ..]) => Ok(Some(Gic::V3(GicV3 {
            distributor: *distributor,
            redistributors: *redistributors,
        }))),
        (true, _) => Err(Issue::new(
            node.path(),
            "reg",
            "must list the distributor and a redistributor region",
        )
        .into()),
        (false, [distributor, cpu_interface, rest @ ..]) => Ok(Some(Gic::V2(GicV2 {
            distributor: *distributor,
            cpu_interface: *cpu_interface,
            hypervisor_interface: rest.first().copied(),
            virtual_cpu_interface: rest.get(1).copied(),
        }))),
        (false, _) => Err(Issue::new(
            node.path(),
            "reg",
            "must list the distributor and the CPU interface",
        )
        .into()),
    }
}

fn console(tree: &DeviceTree<'_>) -> Result<Option<PhysRange>, BoardError> {
    let Some(node) = stdout_node(tree)? else {
        return Ok(None);
    };
    let issue = |reason: String| BoardError::from(Issue::new("/chosen", "stdout-path", reason));
    // Bulkhead's console driver is a PL011: another UART (the Raspberry
    // Pi's mini UART, its DT's default stdout) leaves the early console in use.
    if !node.is_compatible("arm,pl011") {
        return Ok(None);
    }
    let regs = physical_regs(&node)?.unwrap_or_default();
    let first = regs
        .first()
        .ok_or_else(|| issue(format!("names {}, which has no reg", node.path())))?;
    Ok(Some(*first))
}

/// The node `/chosen/stdout-path` (or `linux,stdout-path`) names, if any.
pub(crate) fn stdout_node<'t, 'a>(
    tree: &'t DeviceTree<'a>,
) -> Result<Option<Node<'t, 'a>>, BoardError> {
    let Some(chosen) = tree.find("/chosen") else {
        return Ok(None);
    };
    let (name, property) = match (
        chosen.property("stdout-path"),
        chosen.property("linux,stdout-path"),
    ) {
        (Some(p), _) => ("stdout-path", p),
        (None, Some(p)) => ("linux,stdout-path", p),
        (None, None) => return Ok(None),
    };
    let issue = |reason: String| BoardError::from(Issue::new(chosen.path(), name, reason));
    let value = property
        .as_str()
        .ok_or_else(|| issue(String::from("must be a string")))?;
    // "serial0:115200n8" -> "serial0".
    let target = value.split(':').next().unwrap_or(value);
    let node = tree
        .resolve(target)
        .ok_or_else(|| issue(format!("names {target}, which is not in the device tree")))?;
    Ok(Some(node))
}

/// `#address-cells` of `/cpus`: how many cells an MPIDR takes in the layout.
pub(crate) fn mpidr_cells(tree: &DeviceTree<'_>) -> usize {
    tree.find("/cpus")
        .and_then(|n| cell_counts(&n).ok())
        .map_or(1, |(address_cells, _)| address_cells)
}
