//! The virtual PCI host bridge node: where a partition finds its PCI functions, channel endpoints and control function.

use alloc::format;
use alloc::vec::Vec;

use vm_fdt::FdtWriter;

use super::GuestDtError;
use crate::config::dt::{cells_to_u64, DeviceTree};
use crate::config::virtual_pci::{
    channel_device, channel_intx_intid, CONTROL_DEVICE, CONTROL_INTID, VIRTUAL_MMIO,
};
use crate::config::{pci_ranges, Partition, VIRTUAL_ECAM};

/// `ranges` phys.hi of 32-bit non-prefetchable memory.
const MEMORY_32: u32 = 0x0200_0000;
/// `ranges` phys.hi of 64-bit prefetchable memory.
const PREFETCHABLE_MEMORY_64: u32 = 0x4300_0000;
/// `interrupt-map` pin of INTA.
const PIN_INTA: u32 = 1;
/// GIC interrupt specifier flags: level-triggered, active high.
const LEVEL_HIGH: u32 = 4;
/// INTID of SPI 0.
const FIRST_SPI: u32 = 32;

/// `[high, low]` cells of a 64-bit value.
fn split(value: u64) -> [u32; 2] {
    [(value >> 32) as u32, value as u32]
}

/// The virtual PCI host bridge of a partition with a virtual bus
/// ([`Partition::has_virtual_pci`]): a generic ECAM host at
/// [`VIRTUAL_ECAM`] (bus 0 only) whose `ranges` are the board host's
/// memory windows a guest can reach at IPA == PA (with PCI functions),
/// [`VIRTUAL_MMIO`] (the virtual functions' BAR0s) and each channel's
/// memory at the partition's IPA (a BAR2); its `interrupt-map` routes each
/// PCI function to its physical INTx SPI, each channel endpoint and the
/// control function to their virtual SPIs.
pub(super) fn write_virtual_pci_host(
    writer: &mut FdtWriter,
    tree: &DeviceTree<'_>,
    partition: &Partition,
    gic_phandle: u32,
) -> Result<(), GuestDtError> {
    if !partition.has_virtual_pci() {
        return Ok(());
    }
    let host = match partition.pci_functions.first() {
        Some(first) => Some(
            tree.find(&first.host)
                .ok_or_else(|| GuestDtError::DeviceNotFound(first.host.clone()))?,
        ),
        None => None,
    };
    let ecam = VIRTUAL_ECAM;
    let node = writer.begin_node(&format!("pcie@{:x}", ecam.start.0))?;
    writer.property_string("compatible", "pci-host-ecam-generic")?;
    writer.property_string("device_type", "pci")?;
    writer.property_u32("#address-cells", 3)?;
    writer.property_u32("#size-cells", 2)?;
    writer.property_u32("#interrupt-cells", 1)?;
    writer.property_array_u64("reg", &[ecam.start.0, ecam.size])?;
    writer.property_array_u32("bus-range", &[0, 0])?;
    if host.is_some_and(|host| host.property("dma-coherent").is_some()) {
        writer.property_null("dma-coherent")?;
    }
    let mut ranges = Vec::new();
    if let Some(host) = &host {
        for (cells, window) in pci_ranges(host)? {
            let Some(&space) = cells.first() else {
                continue;
            };
            let is_memory = (space >> 24) & 0b10 != 0;
            let identity = cells.get(1..3).and_then(cells_to_u64) == Some(window.start.0);
            let reachable = window
                .end()
                .is_some_and(|end| end <= 1u64 << crate::stage2::IPA_BITS);
            if is_memory && identity && reachable && window.size != 0 {
                ranges.extend_from_slice(cells.get(..3).unwrap_or_default());
                ranges.extend_from_slice(&split(window.start.0));
                ranges.extend_from_slice(&split(window.size));
            }
        }
    }
    // Child address (3 cells: phys.hi, then the PCI address), parent
    // address (2 cells), size (2 cells); PCI address == IPA throughout.
    let identity_range = |phys_high: u32, start: u64, size: u64| {
        let mut entry = Vec::with_capacity(7);
        entry.push(phys_high);
        entry.extend_from_slice(&split(start));
        entry.extend_from_slice(&split(start));
        entry.extend_from_slice(&split(size));
        entry
    };
    ranges.extend(identity_range(
        MEMORY_32,
        VIRTUAL_MMIO.start.0,
        VIRTUAL_MMIO.size,
    ));
    for channel in &partition.channels {
        ranges.extend(identity_range(
            PREFETCHABLE_MEMORY_64,
            channel.ipa.0,
            channel.size,
        ));
    }
    writer.property_array_u32("ranges", &ranges)?;
    // Child: PCI address (3 cells), pin; parent: GIC phandle, its unit
    // address (2 cells), SPI specifier (level-high).
    let mut map = Vec::new();
    let mut route = |phys_high: u32, pin: u32, intid: u32| {
        let Some(spi) = intid.checked_sub(FIRST_SPI) else {
            return;
        };
        map.extend_from_slice(&[phys_high, 0, 0, pin]);
        map.extend_from_slice(&[gic_phandle, 0, 0, 0, spi, LEVEL_HIGH]);
    };
    for function in &partition.pci_functions {
        let Some(intid) = function.interrupt.filter(|_| function.pin != 0) else {
            continue;
        };
        let address = u32::from(function.address.routing_id()) << 8;
        route(address, u32::from(function.pin), intid);
    }
    for channel in &partition.channels {
        let device = u32::from(channel_device(channel.slot)) << 11;
        route(device, PIN_INTA, channel_intx_intid(channel.slot));
    }
    if !partition.manages.is_empty() {
        route(u32::from(CONTROL_DEVICE) << 11, PIN_INTA, CONTROL_INTID);
    }
    writer.property_array_u32("interrupt-map-mask", &[0xff00, 0, 0, 7])?;
    writer.property_array_u32("interrupt-map", &map)?;
    writer.end_node(node)?;
    Ok(())
}
