//! Builds a partition's guest DTB: generated CPUs, PSCI, memory, GIC and chosen,
//! plus the board nodes of its devices copied with their references fixed up.
//!
//! The output is a function of the board DTB and the partition alone, and
//! nodes appear in a fixed order (generated nodes first, then copied ones in
//! board order), so the same inputs always give the same bytes.

use alloc::collections::BTreeSet;
use alloc::format;
use alloc::vec::Vec;

use vm_fdt::FdtWriter;

use super::channels::write_channels;
use super::virtual_console;
use super::virtual_pci::write_virtual_pci_host;
use super::GuestDtError;
use crate::address::Ipa;
use crate::config::dt::{DeviceTree, Node};
use crate::config::{
    gic_node, interrupt_map, physical_regs, reachable_pci_ranges, Partition, GICV3_COMPATIBLE,
};
use crate::decode::gicv2::MAX_CPU_INTERFACES;

/// Choices that are not part of the layout proper.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestDtOptions<'a> {
    /// `/chosen/bootargs`, the guest kernel's command line; overrides the
    /// partition's own `bootargs` when given.
    pub bootargs: Option<&'a str>,
    /// IPA and size of the initrd as placed in the partition
    /// (`/chosen/linux,initrd-start` and `linux,initrd-end`).
    pub initrd: Option<(Ipa, u64)>,
    /// How many times the partition has been started, 1 on its first boot
    /// (`/chosen/bulkhead,boot-count`, so a guest can tell a reset from a
    /// cold start); 0 leaves the property out.
    pub boot_count: u32,
    /// Whether `/chosen` gets `rng-seed` and `kaslr-seed`: written as
    /// zeros here, patched with fresh seeds at every start (see
    /// [`chosen_value_offset`]).
    pub seeds: bool,
}

/// Root children the guest DT generates itself; a device may not replace them.
const GENERATED: [&str; 5] = ["cpus", "psci", "memory", "chosen", "aliases"];
/// Properties never copied: they point at the GIC ITS or the SMMU, which
/// guests are not given (PCI devices then fall back to INTx).
const DROPPED: [&str; 6] = [
    "msi-map",
    "msi-map-mask",
    "msi-parent",
    "iommu-map",
    "iommu-map-mask",
    "iommus",
];
/// Size of the GICv3 distributor frame the guest sees.
const GICD_SIZE: u64 = 0x1_0000;
/// One GICv3 redistributor: RD_base and SGI_base frames, 64 KiB each.
const GICR_FRAME_SIZE: u64 = 0x2_0000;
/// The GICv2 distributor and CPU interface a guest sees: 4 KiB of GICD,
/// 8 KiB of GICC (GICC_DIR is at 0x1000).
const GICV2_GICD_SIZE: u64 = 0x1000;
const GICV2_GICC_SIZE: u64 = 0x2000;
/// `compatible` of the guest's GICv2 (what QEMU's virt and Linux use).
const GICV2_GUEST_COMPATIBLE: &str = "arm,cortex-a15-gic";
/// The guest GIC's `#address-cells` (`interrupt-map` parent unit addresses).
const GIC_ADDRESS_CELLS: u32 = 2;
/// GIC specifier of the vGIC maintenance interrupt: PPI 9, level high.
const GIC_MAINTENANCE_INTERRUPT: [u32; 3] = [1, 9, 4];
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
/// `memory@<ipa>` node per memory region, a GICv3 `intc@<GICD base>` (the
/// board's distributor frame and one redistributor per vCPU at the start of
/// the board's redistributor region, no ITS) that is the root
/// `interrupt-parent`, its assigned devices and the clock providers they
/// reference copied from the board at the same paths, the architected timer
/// and PMU, and `/chosen` with `bootargs`, the first PL011 as `stdout-path`
/// and the initrd range. A partition with a virtual PCI bus also gets the
/// virtual host bridge `pcie@<VIRTUAL_ECAM>` and `linux,pci-probe-only`,
/// one with channels `/chosen/bulkhead/channel@<id>` nodes.
///
/// Copied nodes lose their ITS and SMMU references (`msi-map`, `msi-parent`,
/// `iommu-map`, `iommus`), a PCI host the `ranges` windows beyond the
/// stage-2 IPA space (as in `config::Device::regs`); their `interrupt-parent` and `interrupt-map`
/// entries that named the board GIC name the guest's GIC (entries to other
/// controllers are dropped). The guest GIC keeps the board GIC's phandle when
/// it has one, so references inside copied nodes stay valid.
pub fn build(
    board_dtb: &[u8],
    partition: &Partition,
    options: &GuestDtOptions,
) -> Result<Vec<u8>, GuestDtError> {
    let tree = DeviceTree::parse(board_dtb)?;
    let root = tree.root().ok_or(GuestDtError::MissingNode("/"))?;
    let cpu_compatibles = cpu_compatibles(&tree, partition)?;
    let gic = guest_gic(&tree, partition.cpus.len())?;
    let devices = assigned_devices(&tree, partition)?;
    if let Some(inside) = devices.iter().find(|node| node.is_within(&gic.node)) {
        return Err(GuestDtError::ReservedNode(inside.path()));
    }
    let console = devices
        .iter()
        .find(|node| node.is_compatible("arm,pl011"))
        .map(|node| node.path())
        .or_else(|| partition.virtual_console.then(virtual_console::path));
    let copied = nodes_to_copy(&tree, &root, &devices)?;
    // Copied nodes keep their `reg` (and a bus its `ranges`) as the board
    // encodes them, under a guest root of 2/2 cells. A node right under the
    // root encodes `reg` in the root's cells; one on a bus in the bus's
    // cells, and the bus's `ranges` uses only the root's #address-cells (its
    // sizes are the bus's). So a board root of 2/1 (a Raspberry Pi's) can
    // give a partition the devices on its `/soc` bus, as long as nothing
    // with a `reg` is copied right under the root. A partition given no
    // board device gets generated nodes only, which are 2/2.
    let address_cells = root.u32_property("#address-cells").unwrap_or(2);
    let size_cells = root.u32_property("#size-cells").unwrap_or(1);
    let root_level_reg = || {
        root.children()
            .any(|child| copied.contains(&child.id()) && child.property("reg").is_some())
    };
    if (address_cells, size_cells) != (2, 2)
        && !devices.is_empty()
        && (address_cells != 2 || root_level_reg())
    {
        return Err(GuestDtError::RootCells {
            address_cells,
            size_cells,
        });
    }
    let bootargs = options.bootargs.or(partition.bootargs.as_deref());

    let mut writer = FdtWriter::new()?;
    let root_node = writer.begin_node("")?;
    for name in ["compatible", "model"] {
        if let Some(property) = root.property(name) {
            writer.property(name, property.value)?;
        }
    }
    writer.property_u32("#address-cells", 2)?;
    writer.property_u32("#size-cells", 2)?;
    writer.property_u32("interrupt-parent", gic.phandle)?;

    write_chosen(
        &mut writer,
        console.as_deref(),
        bootargs,
        options,
        partition,
    )?;
    write_cpus(&mut writer, &cpu_compatibles)?;
    write_psci(&mut writer)?;
    write_memory(&mut writer, partition)?;
    write_gic(&mut writer, &gic)?;
    write_virtual_pci_host(&mut writer, &tree, partition, gic.phandle)?;
    if partition.virtual_console {
        let clock = tree
            .nodes()
            .filter_map(|n| phandle_of(&n))
            .chain([gic.phandle])
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(GuestDtError::Property {
                node: virtual_console::path(),
                property: "clocks",
                reason: "no phandle is left for the virtual console's clock",
            })?;
        virtual_console::write_virtual_uart(&mut writer, clock)?;
    }

    let copier = Copier { tree: &tree, gic };
    for child in root.children() {
        if copied.contains(&child.id()) {
            copier.subtree(&mut writer, &child)?;
        } else if child.children().any(|c| copied.contains(&c.id())) {
            copier.bus(&mut writer, &child, &copied)?;
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

/// The guest's GIC: where it is and the phandle it gets.
struct GuestGic<'t, 'a> {
    /// The board's GIC node (its phandle is what copied references name).
    node: Node<'t, 'a>,
    board_phandle: Option<u32>,
    phandle: u32,
    distributor: u64,
    frames: GuestGicFrames,
}

/// What follows the distributor in the guest GIC's `reg`, by version.
enum GuestGicFrames {
    /// One redistributor per vCPU (emulated).
    V3 {
        redistributors: u64,
        redistributors_size: u64,
    },
    /// The CPU interface: the board's GICV mapped at the board's GICC address.
    V2 { cpu_interface: u64 },
}

fn phandle_of(node: &Node<'_, '_>) -> Option<u32> {
    node.property("phandle")
        .or_else(|| node.property("linux,phandle"))
        .and_then(|p| p.as_u32())
}

/// The board's GIC (v3 or v2) and what of it a partition with `vcpus` vCPUs sees.
fn guest_gic<'t, 'a>(
    tree: &'t DeviceTree<'a>,
    vcpus: usize,
) -> Result<GuestGic<'t, 'a>, GuestDtError> {
    let node = gic_node(tree).ok_or(GuestDtError::MissingNode(
        "GIC (arm,gic-v3, arm,cortex-a15-gic or arm,gic-400)",
    ))?;
    let regs = physical_regs(&node)?.unwrap_or_default();
    let v3 = GICV3_COMPATIBLE.iter().any(|c| node.is_compatible(c));
    let [distributor, second, ..] = regs.as_slice() else {
        return Err(GuestDtError::Property {
            node: node.path(),
            property: "reg",
            reason: if v3 {
                "must list the distributor and a redistributor region"
            } else {
                "must list the distributor and the CPU interface"
            },
        });
    };
    let frames = if v3 {
        GuestGicFrames::V3 {
            redistributors: second.start.0,
            redistributors_size: u64::try_from(vcpus)
                .ok()
                .and_then(|count| count.checked_mul(GICR_FRAME_SIZE))
                .ok_or(GuestDtError::TooManyVcpus(vcpus))?,
        }
    } else {
        // A GICv2 target list names eight CPU interfaces at most.
        if vcpus > MAX_CPU_INTERFACES {
            return Err(GuestDtError::TooManyVcpus(vcpus));
        }
        GuestGicFrames::V2 {
            cpu_interface: second.start.0,
        }
    };
    let board_phandle = phandle_of(&node);
    // A fresh phandle only when nothing can name the board GIC by phandle.
    let phandle = match board_phandle {
        Some(phandle) => phandle,
        None => tree
            .nodes()
            .filter_map(|n| phandle_of(&n))
            .max()
            .unwrap_or(0)
            .checked_add(1)
            .ok_or(GuestDtError::Property {
                node: node.path(),
                property: "phandle",
                reason: "no phandle is left for the guest GIC",
            })?,
    };
    Ok(GuestGic {
        node,
        board_phandle,
        phandle,
        distributor: distributor.start.0,
        frames,
    })
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
/// (transitively) reference, the architected timer and the PMU.
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
    // Its PPI is per core, so every partition may have it.
    if let Some(pmu) = root
        .children()
        .find(|node| node.is_compatible("arm,armv8-pmuv3") || node.base_name() == "pmu")
    {
        copied.insert(pmu.id());
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
    bootargs: Option<&str>,
    options: &GuestDtOptions,
    partition: &Partition,
) -> Result<(), GuestDtError> {
    let chosen = writer.begin_node("chosen")?;
    if partition.has_virtual_pci() {
        // Bulkhead assigned the BARs and the guest cannot move them: Linux
        // must keep them as they are.
        writer.property_u32("linux,pci-probe-only", 1)?;
    }
    if let Some(bootargs) = bootargs {
        writer.property_string("bootargs", bootargs)?;
    }
    if let Some(console) = console {
        writer.property_string("stdout-path", console)?;
    }
    if options.boot_count != 0 {
        writer.property_u32("bulkhead,boot-count", options.boot_count)?;
    }
    if options.seeds {
        writer.property("rng-seed", &[0; crate::entropy::RNG_SEED_BYTES])?;
        writer.property_u64("kaslr-seed", 0)?;
    }
    if let Some((start, size)) = options.initrd {
        // linux,initrd-end is exclusive.
        let end = start.checked_add(size).ok_or(GuestDtError::InitrdWraps)?;
        writer.property_u64("linux,initrd-start", start.0)?;
        writer.property_u64("linux,initrd-end", end.0)?;
    }
    write_channels(writer, partition)?;
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

fn write_gic(writer: &mut FdtWriter, gic: &GuestGic<'_, '_>) -> Result<(), GuestDtError> {
    let node = writer.begin_node(&format!("intc@{:x}", gic.distributor))?;
    let compatible = match gic.frames {
        GuestGicFrames::V3 { .. } => "arm,gic-v3",
        GuestGicFrames::V2 { .. } => GICV2_GUEST_COMPATIBLE,
    };
    writer.property_string("compatible", compatible)?;
    writer.property_u32("#interrupt-cells", 3)?;
    writer.property_null("interrupt-controller")?;
    writer.property_u32("#address-cells", GIC_ADDRESS_CELLS)?;
    writer.property_u32("#size-cells", 2)?;
    writer.property_null("ranges")?;
    match gic.frames {
        GuestGicFrames::V3 {
            redistributors,
            redistributors_size,
        } => {
            writer.property_u32("#redistributor-regions", 1)?;
            writer.property_array_u64(
                "reg",
                &[
                    gic.distributor,
                    GICD_SIZE,
                    redistributors,
                    redistributors_size,
                ],
            )?;
        }
        GuestGicFrames::V2 { cpu_interface } => writer.property_array_u64(
            "reg",
            &[
                gic.distributor,
                GICV2_GICD_SIZE,
                cpu_interface,
                GICV2_GICC_SIZE,
            ],
        )?,
    }
    writer.property_array_u32("interrupts", &GIC_MAINTENANCE_INTERRUPT)?;
    writer.property_phandle(gic.phandle)?;
    writer.end_node(node)?;
    Ok(())
}

/// Copies board nodes into the guest DT, fixing what points at the board's
/// interrupt controller, ITS and SMMU.
struct Copier<'t, 'a> {
    tree: &'t DeviceTree<'a>,
    gic: GuestGic<'t, 'a>,
}

impl Copier<'_, '_> {
    /// A bus node holding copied children: only the properties that give the
    /// children's `reg` meaning, then the children themselves.
    fn bus(
        &self,
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
            self.subtree(writer, &child)?;
        }
        writer.end_node(node)?;
        Ok(())
    }

    /// Copies `node`, its properties and its descendants. Recursion is
    /// bounded by the parser's depth limit.
    fn subtree(&self, writer: &mut FdtWriter, node: &Node<'_, '_>) -> Result<(), GuestDtError> {
        let handle = writer.begin_node(node.name())?;
        for property in node.properties() {
            match property.name {
                name if DROPPED.contains(&name) => {}
                "interrupt-parent" => match property.as_u32() {
                    Some(phandle) if Some(phandle) == self.gic.board_phandle => {
                        writer.property_u32("interrupt-parent", self.gic.phandle)?;
                    }
                    _ => writer.property("interrupt-parent", property.value)?,
                },
                "interrupt-map" => {
                    writer.property_array_u32("interrupt-map", &self.interrupt_map(node)?)?;
                }
                // A PCI host's windows the guest cannot reach are left out.
                "ranges" => match reachable_pci_ranges(node)? {
                    Some(cells) => writer.property_array_u32("ranges", &cells)?,
                    None => writer.property("ranges", property.value)?,
                },
                name => writer.property(name, property.value)?,
            }
        }
        for child in node.children() {
            self.subtree(writer, &child)?;
        }
        writer.end_node(handle)?;
        Ok(())
    }

    /// `node`'s `interrupt-map` with the entries that go to the board GIC
    /// re-encoded for the guest GIC (its phandle, its `#address-cells`);
    /// entries to other controllers, which the guest does not have, dropped.
    fn interrupt_map(&self, node: &Node<'_, '_>) -> Result<Vec<u32>, GuestDtError> {
        let mut cells = Vec::new();
        for entry in interrupt_map(self.tree, node)? {
            if entry.parent != self.gic.node.id() {
                continue;
            }
            cells.extend_from_slice(&entry.child);
            cells.push(self.gic.phandle);
            // The GIC's unit address is unused by its binding: zeros.
            cells.extend((0..GIC_ADDRESS_CELLS).map(|_| 0));
            cells.extend_from_slice(&entry.parent_specifier);
        }
        Ok(cells)
    }
}

/// Where the 4-byte value of `/chosen/bulkhead,boot-count` lies in a
/// guest DT `build` made, so that a reset can patch the count in a copy
/// built at boot instead of building (allocating) again.
pub fn boot_count_offset(dtb: &[u8]) -> Option<usize> {
    chosen_value_offset(dtb, "bulkhead,boot-count", 4)
}

/// Where the `len`-byte value of `/chosen/<name>` lies in `dtb`, for
/// patching in place (boot count, seeds); none if absent or sized otherwise.
pub fn chosen_value_offset(dtb: &[u8], name: &str, len: usize) -> Option<usize> {
    let tree = crate::config::dt::DeviceTree::parse(dtb).ok()?;
    let value = tree.find("/chosen")?.property(name)?.value;
    if value.len() != len {
        return None;
    }
    (value.as_ptr() as usize).checked_sub(dtb.as_ptr() as usize)
}
