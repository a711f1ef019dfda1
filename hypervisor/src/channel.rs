//! Inter-partition channels at run time: ringing an endpoint's doorbell.
//!
//! A channel's memory is mapped into each endpoint at boot (stage 2); what
//! remains is the doorbell: the edge-triggered virtual SPI a bare-metal
//! guest enables, and the INTx of the endpoint's ivshmem function a Linux
//! guest's `uio_pci_generic` binds. A ring raises both; each reaches the
//! guest only if it enabled that path.

use alloc::vec::Vec;

use bulkhead_core::config::virtual_pci::{channel_doorbell_intid, channel_intx_intid};
use spin::Once;

use crate::partition::{Partition, System};
use crate::virtual_spi;

/// Where each endpoint of each of a partition's channels is: by channel
/// slot, then by endpoint index, the (partition index, its slot), looked
/// up once when the system is installed so that a ring searches nothing.
pub type ChannelRoutes = Once<Vec<Vec<Option<(usize, usize)>>>>;

/// Fills every partition's [`ChannelRoutes`]; once, at install.
pub fn route_all(partitions: &[Partition]) {
    for partition in partitions {
        partition.channel_routes.call_once(|| {
            partition
                .config
                .channels
                .iter()
                .map(|channel| {
                    channel
                        .peers
                        .iter()
                        .map(|&id| {
                            let index = partitions.iter().position(|p| p.config.id == id)?;
                            let slot = partitions[index]
                                .config
                                .channels
                                .iter()
                                .position(|other| other.id == channel.id)?;
                            Some((index, slot))
                        })
                        .collect()
                })
                .collect()
        });
    }
}

/// Who a ring goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peers {
    /// One endpoint, by index.
    One(usize),
    /// Every endpoint but the ringer.
    All,
}

/// Why a ring was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The peer index names no endpoint, or the ringer itself.
    InvalidPeer,
}

/// The endpoint of `ringer`'s channel slot `slot` rings `peers`.
pub fn ring(
    system: &System,
    ringer: &Partition,
    slot: usize,
    peers: Peers,
) -> Result<(), RingError> {
    let (Some(own), Some(routes)) = (
        ringer.config.channels.get(slot),
        ringer
            .channel_routes
            .get()
            .and_then(|routes| routes.get(slot)),
    ) else {
        return Err(RingError::InvalidPeer);
    };
    let targets = match peers {
        Peers::One(index) if index != own.index && index < routes.len() => index..index + 1,
        Peers::One(_) => return Err(RingError::InvalidPeer),
        Peers::All => 0..routes.len(),
    };
    for index in targets.filter(|&index| index != own.index) {
        if let Some(&Some((partition, slot))) = routes.get(index) {
            if let Some(target) = system.partitions.get(partition) {
                ring_endpoint(target, slot);
            }
        }
    }
    Ok(())
}

/// Rings `target`'s endpoint at its channel slot `slot`.
fn ring_endpoint(target: &Partition, slot: usize) {
    virtual_spi::raise(target, channel_doorbell_intid(slot));
    if target.ring_ivshmem(slot) {
        virtual_spi::raise(target, channel_intx_intid(slot));
    }
}
