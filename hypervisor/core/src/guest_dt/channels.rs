//! `/chosen/bulkhead`: the channels a partition is an endpoint of, as a bare-metal guest finds them.

use alloc::format;
use alloc::string::String;

use vm_fdt::FdtWriter;

use super::GuestDtError;
use crate::config::virtual_pci::channel_doorbell_intid;
use crate::config::Partition;

/// GIC interrupt specifier type of an SPI.
const GIC_SPI: u32 = 0;
/// GIC interrupt specifier flags: edge-triggered, rising.
const EDGE_RISING: u32 = 1;
/// INTID of SPI 0.
const FIRST_SPI: u32 = 32;

/// Writes `bulkhead { channel@<id> { ... }; ... }` inside the open
/// `/chosen` node, if the partition has channels: per channel its `reg`
/// (the id), `label`, `memory` (IPA and size, 2 cells each, as this
/// partition sees it), `endpoint` (this partition's index), `endpoints`
/// (their number), its doorbell in `interrupts` (an edge-triggered
/// virtual SPI) and an empty `read-only` if this partition may only read.
pub(super) fn write_channels(
    writer: &mut FdtWriter,
    partition: &Partition,
) -> Result<(), GuestDtError> {
    if partition.channels.is_empty() {
        return Ok(());
    }
    let bulkhead = writer.begin_node("bulkhead")?;
    writer.property_u32("#address-cells", 1)?;
    writer.property_u32("#size-cells", 0)?;
    for channel in &partition.channels {
        let node = writer.begin_node(&format!("channel@{:x}", channel.id))?;
        writer.property_u32("reg", channel.id)?;
        writer.property_string("label", &channel.label)?;
        writer.property_array_u64("memory", &[channel.ipa.0, channel.size])?;
        writer.property_u32("endpoint", cell(channel.index)?)?;
        writer.property_u32("endpoints", cell(channel.peers.len())?)?;
        let spi = channel_doorbell_intid(channel.slot) - FIRST_SPI;
        writer.property_array_u32("interrupts", &[GIC_SPI, spi, EDGE_RISING])?;
        if channel.read_only {
            writer.property_null("read-only")?;
        }
        writer.end_node(node)?;
    }
    writer.end_node(bulkhead)?;
    Ok(())
}

/// A count or index as one cell.
fn cell(value: usize) -> Result<u32, GuestDtError> {
    u32::try_from(value).map_err(|_| GuestDtError::Property {
        node: String::from("/chosen/bulkhead"),
        property: "endpoints",
        reason: "has more endpoints than a cell can count",
    })
}
