//! Inter-partition channels at run time: ringing an endpoint's doorbell.
//!
//! A channel's memory is mapped into each endpoint at boot (stage 2); what
//! remains is the doorbell: the edge-triggered virtual SPI a bare-metal
//! guest enables, and the INTx of the endpoint's ivshmem function a Linux
//! guest's `uio_pci_generic` binds. A ring raises both; each reaches the
//! guest only if it enabled that path.

use bulkhead_core::config::virtual_pci::{channel_doorbell_intid, channel_intx_intid};
use bulkhead_core::config::PartitionChannel;

use crate::partition::{Partition, System};
use crate::virtual_spi;

/// Who a ring goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peers {
    One(usize),
    All,
}

/// Why a ring was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingError {
    /// The peer index names no endpoint, or the ringer itself.
    InvalidPeer,
}

/// The ringer's endpoint `own` rings `peers` of its channel.
pub fn ring(system: &System, own: &PartitionChannel, peers: Peers) -> Result<(), RingError> {
    let targets = match peers {
        Peers::One(index) if index != own.index && index < own.peers.len() => index..index + 1,
        Peers::One(_) => return Err(RingError::InvalidPeer),
        Peers::All => 0..own.peers.len(),
    };
    for index in targets.filter(|&index| index != own.index) {
        let Some(target) = own
            .peers
            .get(index)
            .and_then(|&id| system.partition_by_id(id))
        else {
            continue;
        };
        ring_endpoint(target, own.id);
    }
    Ok(())
}

/// Rings `target`'s endpoint of channel `channel`.
fn ring_endpoint(target: &Partition, channel: u32) {
    let Some(endpoint) = target.config.channels.iter().find(|c| c.id == channel) else {
        return;
    };
    virtual_spi::raise(target, channel_doorbell_intid(endpoint.slot));
    if target.ring_ivshmem(endpoint.slot) {
        virtual_spi::raise(target, channel_intx_intid(endpoint.slot));
    }
}
