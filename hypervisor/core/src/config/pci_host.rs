//! The board's PCI host bridges and SMMUs, as far as the device tree describes them.
//!
//! PCI functions themselves are not in a device tree: Bulkhead enumerates
//! them at boot. What the DT gives is where the ECAM and the BAR windows
//! are, how INTx pins reach the GIC (`interrupt-map`), and which SMMU
//! translates which requester IDs (`iommu-map`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::dt::{cells_to_u64, DeviceTree, Node};
use super::error::Issue;
use super::interrupts::{gic_intid, interrupt_map};
use super::regs::{pci_ranges, physical_regs};
use crate::address::PhysRange;
use crate::pci::FunctionAddress;

/// What a host bridge window decodes, from the space code of its PCI address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PciSpace {
    Io,
    Memory32,
    Memory64,
}

/// One `ranges` entry of a host bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciWindow {
    pub space: PciSpace,
    pub prefetchable: bool,
    /// Address on the PCI bus.
    pub pci_address: u64,
    /// Where the CPU sees it.
    pub cpu: PhysRange,
}

/// One INTx route of `interrupt-map`, compared under `interrupt-map-mask`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntxRoute {
    /// High cell of the child unit address (bus, device, function bits).
    pub address_high: u32,
    /// INTx pin, 1 (INTA) to 4 (INTD).
    pub pin: u32,
    /// GIC INTID it arrives as.
    pub intid: u32,
}

/// One `iommu-map` entry: requester IDs `[rid_base, rid_base + length)` are
/// stream IDs `sid_base + (rid - rid_base)` of the SMMU at `smmu`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IommuMap {
    pub rid_base: u32,
    pub smmu: String,
    pub sid_base: u32,
    pub length: u32,
}

/// A generic ECAM host bridge (`pci-host-ecam-generic`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciHost {
    /// Full DT path, e.g. `/pcie@10000000`.
    pub path: String,
    /// The ECAM: 1 MiB per bus from `first_bus`.
    pub ecam: PhysRange,
    pub first_bus: u8,
    pub last_bus: u8,
    pub windows: Vec<PciWindow>,
    /// `interrupt-map-mask` over (address high cell, pin).
    pub intx_mask: (u32, u32),
    pub intx: Vec<IntxRoute>,
    pub iommu_map: Vec<IommuMap>,
}

impl PciHost {
    /// The GIC INTID INTx `pin` (1..=4) of `function` arrives as.
    pub fn intx_intid(&self, function: FunctionAddress, pin: u8) -> Option<u32> {
        let address_high = u32::from(function.routing_id()) << 8;
        let (mask_address, mask_pin) = self.intx_mask;
        self.intx
            .iter()
            .find(|route| {
                route.address_high & mask_address == address_high & mask_address
                    && route.pin & mask_pin == u32::from(pin) & mask_pin
            })
            .map(|route| route.intid)
    }

    /// The SMMU (DT path) and stream ID of `function`'s DMA, if `iommu-map` covers it.
    pub fn stream(&self, function: FunctionAddress) -> Option<(&str, u32)> {
        let rid = u32::from(function.routing_id());
        self.iommu_map.iter().find_map(|map| {
            let offset = rid.checked_sub(map.rid_base)?;
            (offset < map.length).then(|| (map.smmu.as_str(), map.sid_base.wrapping_add(offset)))
        })
    }

    /// Whether `function`'s bus lies in the bridge's `bus-range`.
    pub fn has_bus(&self, bus: u8) -> bool {
        (self.first_bus..=self.last_bus).contains(&bus)
    }

    /// Memory windows a BAR can be placed in with CPU address == bus address
    /// (identity-mapped: what Bulkhead assigns is what a guest's stage 2 maps).
    pub fn identity_memory_windows(&self) -> impl Iterator<Item = &PciWindow> {
        self.windows.iter().filter(|w| {
            w.space != PciSpace::Io && w.cpu.start.0 == w.pci_address && w.cpu.size != 0
        })
    }
}

/// An SMMUv3 (`arm,smmu-v3`): registers and the INTIDs of its named interrupts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmmuNode {
    pub path: String,
    pub registers: PhysRange,
    pub event_queue: Option<u32>,
    pub global_error: Option<u32>,
    pub command_sync: Option<u32>,
    pub priority_queue: Option<u32>,
}

impl SmmuNode {
    /// Its SPIs, which belong to Bulkhead.
    pub fn interrupts(&self) -> impl Iterator<Item = u32> + '_ {
        [
            self.event_queue,
            self.global_error,
            self.command_sync,
            self.priority_queue,
        ]
        .into_iter()
        .flatten()
    }
}

/// Every well-formed `pci-host-ecam-generic` node of the board. A
/// malformed one is left out rather than failing the board: a layout that
/// gives it whole is refused by the validator naming the bad property, and
/// its functions cannot be given individually.
pub(crate) fn pci_hosts(tree: &DeviceTree<'_>) -> Result<Vec<PciHost>, Issue> {
    Ok(tree
        .nodes()
        .filter(|node| node.is_compatible("pci-host-ecam-generic"))
        .filter_map(|node| pci_host(tree, &node).ok())
        .collect())
}

fn pci_host(tree: &DeviceTree<'_>, node: &Node<'_, '_>) -> Result<PciHost, Issue> {
    let path = node.path();
    let ecam = physical_regs(node)?
        .and_then(|regs| regs.first().copied())
        .ok_or_else(|| Issue::new(path.clone(), "reg", "a PCI host bridge needs its ECAM"))?;
    let (first_bus, last_bus) = match node.property("bus-range").and_then(|p| p.as_cells()) {
        Some(cells) => match cells.as_slice() {
            [first, last] if first <= last && *last <= 0xff => (*first as u8, *last as u8),
            _ => {
                return Err(Issue::new(
                    path,
                    "bus-range",
                    "must be two cells, first <= last <= 0xff",
                ))
            }
        },
        None => (0, 0xff),
    };
    let mut windows = Vec::new();
    for (cells, cpu) in pci_ranges(node)? {
        let (Some(&high), Some(address)) = (cells.first(), cells.get(1..3).and_then(cells_to_u64))
        else {
            continue;
        };
        let space = match (high >> 24) & 0b11 {
            0b01 => PciSpace::Io,
            0b10 => PciSpace::Memory32,
            0b11 => PciSpace::Memory64,
            _ => continue,
        };
        windows.push(PciWindow {
            space,
            prefetchable: high & (1 << 30) != 0,
            pci_address: address,
            cpu,
        });
    }
    let intx_mask = match node
        .property("interrupt-map-mask")
        .and_then(|p| p.as_cells())
    {
        Some(cells) => match cells.as_slice() {
            [address, _, _, pin] => (*address, *pin),
            _ => {
                return Err(Issue::new(
                    path,
                    "interrupt-map-mask",
                    "must be 4 cells (PCI address, pin)",
                ))
            }
        },
        None => (u32::MAX, u32::MAX),
    };
    let mut intx = Vec::new();
    for entry in interrupt_map(tree, node)? {
        let is_gic = tree
            .nodes()
            .find(|n| n.id() == entry.parent)
            .is_some_and(|n| {
                n.property("interrupt-controller").is_some() && super::board::is_gic(&n)
            });
        let (Some(&address_high), Some(&pin)) = (entry.child.first(), entry.child.get(3)) else {
            continue;
        };
        let intid = match entry.parent_specifier.as_slice() {
            [kind, number, ..] if is_gic => gic_intid(*kind, *number),
            _ => None,
        };
        if let Some(intid) = intid {
            intx.push(IntxRoute {
                address_high,
                pin,
                intid,
            });
        }
    }
    let mut iommu_map = Vec::new();
    if let Some(cells) = node.property("iommu-map").and_then(|p| p.as_cells()) {
        for entry in cells.chunks(4) {
            let [rid_base, phandle, sid_base, length] = entry else {
                return Err(Issue::new(
                    path,
                    "iommu-map",
                    "must be groups of 4 cells (rid-base, iommu, iommu-base, length)",
                ));
            };
            let smmu = tree.by_phandle(*phandle).ok_or_else(|| {
                Issue::new(
                    path.clone(),
                    "iommu-map",
                    format!("phandle {phandle:#x} names no node"),
                )
            })?;
            iommu_map.push(IommuMap {
                rid_base: *rid_base,
                smmu: smmu.path(),
                sid_base: *sid_base,
                length: *length,
            });
        }
    }
    Ok(PciHost {
        path,
        ecam,
        first_bus,
        last_bus,
        windows,
        intx_mask,
        intx,
        iommu_map,
    })
}

/// Every `arm,smmu-v3` node of the board.
pub(crate) fn smmus(tree: &DeviceTree<'_>) -> Result<Vec<SmmuNode>, Issue> {
    let mut smmus = Vec::new();
    for node in tree.nodes().filter(|n| n.is_compatible("arm,smmu-v3")) {
        let path = node.path();
        let registers = physical_regs(&node)?
            .and_then(|regs| regs.first().copied())
            .ok_or_else(|| Issue::new(path.clone(), "reg", "an SMMU needs its registers"))?;
        let names = node
            .property("interrupt-names")
            .and_then(|p| p.as_str_list())
            .unwrap_or_default();
        let specifiers = node
            .property("interrupts")
            .and_then(|p| p.as_cells())
            .unwrap_or_default();
        let intid_of = |wanted: &str| {
            let index = names.iter().position(|name| *name == wanted)?;
            let specifier = specifiers.get(index * 3..index * 3 + 2)?;
            gic_intid(*specifier.first()?, *specifier.get(1)?)
        };
        smmus.push(SmmuNode {
            registers,
            event_queue: intid_of("eventq"),
            global_error: intid_of("gerror"),
            command_sync: intid_of("cmdq-sync"),
            priority_queue: intid_of("priq"),
            path,
        });
    }
    Ok(smmus)
}

/// Where a partition with individual PCI functions finds its virtual host
/// bridge's ECAM (bus 0 only, 1 MiB): QEMU virt's low ECAM address, below
/// 4 GiB so that guests with a 32-bit IPA map reach it. Partition memory
/// may not overlap it.
pub const VIRTUAL_ECAM: PhysRange = PhysRange::new(0x3f00_0000, 1 << 20);
