//! Channels: memory shared between partitions (`channel@<id>` nodes), whole and as each endpoint sees it.

use alloc::string::String;
use alloc::vec::Vec;

use crate::address::{Ipa, PhysAddr};

/// Longest channel label in bytes: the ivshmem LABEL register holds it
/// NUL-padded, with room for one NUL.
pub const MAX_CHANNEL_LABEL_BYTES: usize = bulkhead_abi::ivshmem::LABEL_SIZE as usize - 1;

/// One `channel@<id>` node: `size` bytes of reserved RAM at `pa`, mapped
/// into every endpoint partition and into no one else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Its `reg`, unique among channels.
    pub id: u32,
    /// Its `label`, "channel<id>" when absent.
    pub label: String,
    /// Full path, e.g. "/chosen/bulkhead/channel@0".
    pub node: String,
    pub pa: PhysAddr,
    /// A power of two of at least 4 KiB (a PCI BAR describes it).
    pub size: u64,
    /// In `endpoints` order; position = endpoint index.
    pub endpoints: Vec<ChannelEndpointConfig>,
}

/// One endpoint of a [`Channel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelEndpointConfig {
    /// Partition id (its `reg`).
    pub partition: u32,
    /// Where the partition sees the channel memory, aligned to its size.
    pub ipa: Ipa,
    /// Whether the partition may only read it (`read-only`).
    pub read_only: bool,
}

/// One channel as one of its endpoints sees it; lives in [`super::Partition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionChannel {
    pub id: u32,
    pub label: String,
    /// Position among this partition's channels, sorted by id: picks its
    /// virtual PCI device and virtual SPIs (see [`super::virtual_pci`]).
    pub slot: usize,
    /// This endpoint's index in the channel's `endpoints`.
    pub index: usize,
    pub pa: PhysAddr,
    pub ipa: Ipa,
    pub size: u64,
    pub read_only: bool,
    /// Partition id of every endpoint by endpoint index, this one included.
    pub peers: Vec<u32>,
}

/// The channels `partition` is an endpoint of, as it sees them, from
/// `channels` sorted by id.
pub(crate) fn partition_channels(channels: &[Channel], partition: u32) -> Vec<PartitionChannel> {
    channels
        .iter()
        .filter_map(|channel| {
            let (index, endpoint) = channel
                .endpoints
                .iter()
                .enumerate()
                .find(|(_, e)| e.partition == partition)?;
            Some((channel, index, endpoint))
        })
        .enumerate()
        .map(|(slot, (channel, index, endpoint))| PartitionChannel {
            id: channel.id,
            label: channel.label.clone(),
            slot,
            index,
            pa: channel.pa,
            ipa: endpoint.ipa,
            size: channel.size,
            read_only: endpoint.read_only,
            peers: channel.endpoints.iter().map(|e| e.partition).collect(),
        })
        .collect()
}
