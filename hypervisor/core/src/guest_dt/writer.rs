//! Builds a partition's guest DTB: generated CPUs, PSCI, memory and chosen,
//! plus the board nodes of its devices copied verbatim.
//!
//! The output is a function of the board DTB and the partition alone, and
//! nodes appear in a fixed order (generated nodes first, then copied ones in
//! board order), so the same inputs always give the same bytes.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;

use vm_fdt::FdtWriter;

use super::GuestDtError;
use crate::config::dt::{DeviceTree, Node};
use crate::config::Partition;

/// Choices that are not part of the layout proper.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestDtOptions<'a> {
    /// `/chosen/bootargs`, the guest kernel's command line.
    pub bootargs: Option<&'a str>,
}

/// Root children the guest DT generates itself; a device may not replace them.
const GENERATED: [&str; 5] = ["cpus", "psci", "memory", "chosen", "aliases"];
/// Properties of a bus node that its copied children need to be understood.
const BUS_PROPERTIES: [&str; 5] = [
    "compatible",
    "#address-cells",
    "#size-cells",
    "ranges",
    "dma-ranges",
];
/// MPIDR Aff0 numbers vCPUs, so a partition has at most this many.
const MAX_VCPUS: usize = 256;

/// Builds the partition's DTB from the board DTB.
///
/// The guest sees `#address-cells = #size-cells = 2`, one `cpu@N` per vCPU
/// (reg N: the virtual MPIDR has Aff0 = vCPU index), PSCI through `hvc`, one
/// `memory@<ipa>` node per memory region, its assigned devices and the clock
/// providers they reference copied from the board at the same paths, the
/// architected timer, and `/chosen` with the first PL011 as `stdout-path`.
/// No interrupt controller yet: copied `interrupts` have no parent until the
/// virtual GIC is added.
pub fn build(
    board_dtb: &[u8],
    partition: &Partition,
    options: &GuestDtOptions,
) -> Result<Vec<u8>, GuestDtError> {
    let tree = DeviceTree::parse(board_dtb)?;
    let root = tree.root().ok_or(GuestDtError::MissingNode("/"))?;
    let address_cells = root.u32_property("#address-cells").unwrap_or(2);
    let size_cells = root.u32_property("#size-cells").unwrap_or(1);
    if (address_cells, size_cells) != (2, 2) {
        return Err(GuestDtError::RootCells {
            address_cells,
            size_cells,
        });
    }
    let cpu_compatibles = cpu_compatibles(&tree, partition)?;
    let devices = assigned_devices(&tree, partition)?;
    let console = devices
        .iter()
        .find(|node| node.is_compatible("arm,pl011"))
        .map(|node| node.path());
    let copied = nodes_to_copy(&tree, &root, &devices)?;

    let mut writer = FdtWriter::new()?;
    let root_node = writer.begin_node("")?;
    for name in ["compatible", "model"] {
        if let Some(property) = root.property(name) {
            writer.property(name, property.value)?;
        }
    }
    writer.property_u32("#address-cells", 2)?;
    writer.property_u32("#size-cells", 2)?;

    write_chosen(&mut writer, console.as_deref(), options)?;
    write_cpus(&mut writer, &cpu_compatibles)?;
    write_psci(&mut writer)?;
    write_memory(&mut writer, partition)?;

    for child in root.children() {
        if copied.contains(&child.id()) {
            copy_subtree(&mut writer, &child)?;
        } else if child.children().any(|c| copied.contains(&c.id())) {
            write_bus(&mut writer, &child, &copied)?;
        }
    }

    writer.end_node(root_node)?;
    Ok(writer.finish()?)
}

/// The raw `compatible` of the board CPU each vCPU runs on, in vCPU order.
fn cpu_compatibles<'a>(
    tree: &DeviceTree<'a>,
    partition: &Partition,
) -> Result<Vec<Option<&'a [u8]>>, GuestDtError> {
    if partition.cpus.len() > MAX_VCPUS {
        return Err(GuestDtError::TooManyVcpus(partition.cpus.len()));
    }
    let cpus_node = tree
        .find("/cpus")
        .ok_or(GuestDtError::MissingNode("/cpus"))?;
    // Same selection and order as the board's logical CPU ids (config::Board::cpus).
    let board_cpus: Vec<Node<'_, 'a>> = cpus_node
        .children()
        .filter(|node| {
            node.property("device_type").and_then(|p| p.as_str()) == Some("cpu")
                || node.base_name() == "cpu"
        })
        .collect();
    partition
        .cpus
        .iter()
        .enumerate()
        .map(|(vcpu, &cpu)| {
            let node = board_cpus
                .get(cpu)
                .ok_or(GuestDtError::NoSuchCpu { vcpu, cpu })?;
            Ok(node.property("compatible").map(|p| p.value))
        })
        .collect()
}

/// The board nodes of the partition's devices, in assignment order.
fn assigned_devices<'t, 'a>(
    tree: &'t DeviceTree<'a>,
    partition: &Partition,
) -> Result<Vec<Node<'t, 'a>>, GuestDtError> {
    partition
        .devices
        .iter()
        .map(|device| {
            let node = tree
                .find(&device.path)
                .ok_or_else(|| GuestDtError::DeviceNotFound(device.path.clone()))?;
            check_copyable(&node)?;
            Ok(node)
        })
        .collect()
}

/// Refuses the root, generated nodes, and nodes more than one bus deep.
fn check_copyable(node: &Node<'_, '_>) -> Result<(), GuestDtError> {
    let Some(parent) = node.parent() else {
        return Err(GuestDtError::ReservedNode(node.path()));
    };
    let top = match parent.parent() {
        None => *node,
        Some(grandparent) if grandparent.parent().is_none() => parent,
        Some(_) => return Err(GuestDtError::TooDeep(node.path())),
    };
    let is_memory = top.property("device_type").and_then(|p| p.as_str()) == Some("memory");
    if is_memory || GENERATED.contains(&top.base_name()) {
        return Err(GuestDtError::ReservedNode(node.path()));
    }
    Ok(())
}

/// Ids of every node copied whole: the devices, the clock providers they
/// (transitively) reference, and the architected timer.
fn nodes_to_copy(
    tree: &DeviceTree<'_>,
    root: &Node<'_, '_>,
    devices: &[Node<'_, '_>],
) -> Result<BTreeSet<usize>, GuestDtError> {
    let mut copied: BTreeSet<usize> = devices.iter().map(|node| node.id()).collect();
    if let Some(timer) = root
        .children()
        .find(|node| node.is_compatible("arm,armv8-timer") || node.base_name() == "timer")
    {
        copied.insert(timer.id());
    }
    // Explicit work list: reference chains are input-controlled.
    let mut pending: Vec<Node<'_, '_>> = devices.to_vec();
    while let Some(node) = pending.pop() {
        pending.extend(node.children());
        for provider in clock_providers(tree, &node)? {
            check_copyable(&provider)?;
            if copied.insert(provider.id()) {
                pending.push(provider);
            }
        }
    }
    Ok(copied)
}

/// The nodes a `clocks` property points at (phandle followed by
/// `#clock-cells` specifier cells, repeated).
fn clock_providers<'t, 'a>(
    tree: &'t DeviceTree<'a>,
    node: &Node<'_, '_>,
) -> Result<Vec<Node<'t, 'a>>, GuestDtError> {
    let Some(clocks) = node.property("clocks") else {
        return Ok(Vec::new());
    };
    let malformed = |reason| GuestDtError::Property {
        node: node.path(),
        property: "clocks",
        reason,
    };
    let cells = clocks
        .as_cells()
        .ok_or_else(|| malformed("is not a list of cells"))?;
    let mut providers = Vec::new();
    let mut rest = cells.as_slice();
    while let Some((&phandle, after)) = rest.split_first() {
        let provider = tree
            .by_phandle(phandle)
            .ok_or_else(|| malformed("references a phandle no node has"))?;
        let specifier = provider
            .u32_property("#clock-cells")
            .ok_or_else(|| malformed("references a node without #clock-cells"))?;
        let specifier = usize::try_from(specifier).map_err(|_| malformed("has too many cells"))?;
        rest = after
            .get(specifier..)
            .ok_or_else(|| malformed("ends inside a clock specifier"))?;
        providers.push(provider);
    }
    Ok(providers)
}

fn write_chosen(
    writer: &mut FdtWriter,
    console: Option<&str>,
    options: &GuestDtOptions,
) -> Result<(), GuestDtError> {
    let chosen = writer.begin_node("chosen")?;
    if let Some(bootargs) = options.bootargs {
        writer.property_string("bootargs", bootargs)?;
    }
    if let Some(console) = console {
        writer.property_string("stdout-path", console)?;
    }
    writer.end_node(chosen)?;
    if let Some(console) = console {
        let aliases = writer.begin_node("aliases")?;
        writer.property_string("serial0", console)?;
        writer.end_node(aliases)?;
    }
    Ok(())
}

fn write_cpus(writer: &mut FdtWriter, compatibles: &[Option<&[u8]>]) -> Result<(), GuestDtError> {
    let cpus = writer.begin_node("cpus")?;
    writer.property_u32("#address-cells", 1)?;
    writer.property_u32("#size-cells", 0)?;
    for (vcpu, compatible) in (0u32..).zip(compatibles) {
        let cpu = writer.begin_node(&format!("cpu@{vcpu:x}"))?;
        writer.property_string("device_type", "cpu")?;
        if let Some(compatible) = compatible {
            writer.property("compatible", compatible)?;
        }
        writer.property_u32("reg", vcpu)?;
        writer.property_string("enable-method", "psci")?;
        writer.end_node(cpu)?;
    }
    writer.end_node(cpus)?;
    Ok(())
}

fn write_psci(writer: &mut FdtWriter) -> Result<(), GuestDtError> {
    let psci = writer.begin_node("psci")?;
    writer.property("compatible", b"arm,psci-1.0\0arm,psci-0.2\0")?;
    writer.property_string("method", "hvc")?;
    writer.end_node(psci)?;
    Ok(())
}

fn write_memory(writer: &mut FdtWriter, partition: &Partition) -> Result<(), GuestDtError> {
    let mut regions = partition.memory.clone();
    regions.sort_by_key(|region| region.ipa);
    for region in regions {
        let memory = writer.begin_node(&format!("memory@{:x}", region.ipa.0))?;
        writer.property_string("device_type", "memory")?;
        writer.property_array_u64("reg", &[region.ipa.0, region.size])?;
        writer.end_node(memory)?;
    }
    Ok(())
}

/// A bus node holding copied children: only the properties that give the
/// children's `reg` meaning, then the children themselves.
fn write_bus(
    writer: &mut FdtWriter,
    bus: &Node<'_, '_>,
    copied: &BTreeSet<usize>,
) -> Result<(), GuestDtError> {
    let node = writer.begin_node(bus.name())?;
    for name in BUS_PROPERTIES {
        if let Some(property) = bus.property(name) {
            writer.property(name, property.value)?;
        }
    }
    for child in bus.children().filter(|c| copied.contains(&c.id())) {
        copy_subtree(writer, &child)?;
    }
    writer.end_node(node)?;
    Ok(())
}

/// Copies `node`, its properties and its descendants verbatim. Recursion is
/// bounded by the parser's depth limit.
fn copy_subtree(writer: &mut FdtWriter, node: &Node<'_, '_>) -> Result<(), GuestDtError> {
    let handle = writer.begin_node(node.name())?;
    for property in node.properties() {
        writer.property(property.name, property.value)?;
    }
    for child in node.children() {
        copy_subtree(writer, &child)?;
    }
    writer.end_node(handle)?;
    Ok(())
}
