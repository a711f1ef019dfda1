//! A partition's checkpoint policy (`checkpoint { ... }`) and the one formula for its store's size.
//!
//! The store holds two slots (double buffering: a new checkpoint is written
//! into the slot not holding the current one, so a fault mid-way leaves the
//! current one intact). Each slot has room for (the order inside a slot is
//! the store format's business):
//!
//! ```text
//! header      SLOT_HEADER_BYTES                  generation, checksum, counts
//! vCPU state  VCPU_STATE_BYTES per vCPU          registers, timer, vGIC, PSCI state
//! records     PAGE_RECORD_BYTES per memory page  IPA + checksum, rounded up to whole pages
//! data        one 4 KiB page per 4 KiB page of partition memory
//! ```

use crate::address::{PhysRange, PAGE_SIZE};

/// Slots in a store: the current checkpoint and the one being written.
pub const CHECKPOINT_SLOTS: u64 = 2;
/// Fixed header at the start of each slot.
pub const SLOT_HEADER_BYTES: u64 = 4096;
/// Saved state of one vCPU in a slot: room for the SVE register file at
/// the largest vector length (8.5 KiB) besides the rest.
pub const VCPU_STATE_BYTES: u64 = 16384;
/// One record per page of partition memory: its IPA and its checksum.
pub const PAGE_RECORD_BYTES: u64 = 16;

/// What happens when a checkpointed partition faults (a guest abort it
/// cannot take, or it stops itself through a fatal error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnFault {
    /// Stop the partition; other partitions keep running.
    #[default]
    Stop,
    /// Boot its image again from scratch.
    Restart,
    /// Roll back to its last checkpoint (restart if it has none).
    Restore,
}

impl OnFault {
    /// The binding's spelling of each value, as in `on-fault = "restore"`.
    pub const NAMES: [(&'static str, OnFault); 3] = [
        ("stop", OnFault::Stop),
        ("restart", OnFault::Restart),
        ("restore", OnFault::Restore),
    ];

    /// Parses an `on-fault` value.
    pub fn from_name(name: &str) -> Option<OnFault> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, value)| *value)
    }
}

/// A partition's `checkpoint` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// Physical region holding the checkpoints: reserved, never mapped to
    /// any guest, at least [`checkpoint_store_required`] bytes.
    pub store: PhysRange,
    /// Period of automatic checkpoints; `None` = only on request.
    pub interval_ms: Option<u32>,
    pub on_fault: OnFault,
}

/// `bytes` rounded up to whole pages, saturating.
fn round_up_to_page(bytes: u64) -> u64 {
    bytes.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Bytes of one slot for a partition with `memory_bytes` of RAM and `vcpus`
/// vCPUs (saturating at `u64::MAX`). Slot `n` starts at `store + n * this`.
pub fn checkpoint_slot_bytes(memory_bytes: u64, vcpus: usize) -> u64 {
    let data = round_up_to_page(memory_bytes);
    let pages = data / PAGE_SIZE;
    let records = round_up_to_page(pages.saturating_mul(PAGE_RECORD_BYTES));
    let vcpu_state = u64::try_from(vcpus)
        .unwrap_or(u64::MAX)
        .saturating_mul(VCPU_STATE_BYTES);
    SLOT_HEADER_BYTES
        .saturating_add(vcpu_state)
        .saturating_add(records)
        .saturating_add(data)
}

/// Smallest store that holds two complete checkpoints of a partition with
/// `memory_bytes` of RAM and `vcpus` vCPUs (saturating at `u64::MAX`).
pub fn checkpoint_store_required(memory_bytes: u64, vcpus: usize) -> u64 {
    checkpoint_slot_bytes(memory_bytes, vcpus).saturating_mul(CHECKPOINT_SLOTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_of_a_256_mib_two_vcpu_partition() {
        // Per slot: header 0x1000 + 2 vCPUs 0x8000 + 0x10000 records of 16 bytes
        // (0x100000) + 0x10000000 of data.
        assert_eq!(checkpoint_slot_bytes(0x1000_0000, 2), 0x1010_9000);
        assert_eq!(checkpoint_store_required(0x1000_0000, 2), 0x2021_2000);
    }

    #[test]
    fn records_round_up_to_a_page() {
        // One page of memory: one 16-byte record still takes a whole page.
        assert_eq!(checkpoint_slot_bytes(0x1000, 1), 0x1000 * 3 + 0x4000);
        assert_eq!(checkpoint_slot_bytes(1, 0), 0x1000 * 3);
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        assert_eq!(checkpoint_store_required(u64::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn on_fault_names() {
        assert_eq!(OnFault::from_name("restore"), Some(OnFault::Restore));
        assert_eq!(OnFault::from_name("Restore"), None);
        assert_eq!(OnFault::default(), OnFault::Stop);
    }
}
