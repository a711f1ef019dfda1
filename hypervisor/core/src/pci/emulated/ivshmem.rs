//! An ivshmem channel endpoint's BAR0 registers: interrupt mask and status, doorbell, channel facts.

use alloc::sync::Arc;

use bulkhead_abi::ivshmem::{
    ALL_PEERS, CHANNEL_ID, DOORBELL, ENDPOINTS, INTR_MASK, INTR_STATUS, IV_POSITION, LABEL,
    LABEL_SIZE, READ_ONLY,
};

use super::effects::{Effects, Ring};
use super::intx::IntxLine;
use super::label::Label;
use crate::vgic::Width;

/// One endpoint of a channel, as its registers describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IvshmemEndpoint {
    /// This endpoint's index in its channel (IV_POSITION).
    pub position: u32,
    /// The channel's layout id (CHANNEL_ID).
    pub channel_id: u32,
    /// Number of endpoints of the channel (ENDPOINTS).
    pub endpoints: u32,
    /// This endpoint may only read the channel memory (READ_ONLY).
    pub read_only: bool,
    /// The channel's label (LABEL).
    pub label: Label,
}

/// BAR0 of an ivshmem endpoint (`abi::ivshmem`), little-endian.
///
/// Only aligned 32-bit accesses to a defined register do anything; any
/// other access reads 0 and is ignored (a 64-bit read over INTR_MASK and
/// INTR_STATUS does not clear the status). Every method takes `&self`: the
/// state is the endpoint's [`IntxLine`], which peers ring from other cores
/// without a lock.
#[derive(Clone, Debug)]
pub struct IvshmemRegisters {
    endpoint: IvshmemEndpoint,
    line: Arc<IntxLine>,
}

impl IvshmemRegisters {
    /// The registers of `endpoint`, interrupting through `line` (the one its
    /// [`super::EmulatedFunction::ivshmem`] was given).
    pub fn new(endpoint: IvshmemEndpoint, line: Arc<IntxLine>) -> IvshmemRegisters {
        IvshmemRegisters { endpoint, line }
    }

    /// Which endpoint this is.
    pub fn endpoint(&self) -> &IvshmemEndpoint {
        &self.endpoint
    }

    /// The endpoint's interrupt state.
    pub fn line(&self) -> &Arc<IntxLine> {
        &self.line
    }

    /// A peer rang this endpoint's doorbell: sets INTR_STATUS bit 0.
    /// Returns whether INTx rose (inject this endpoint's INTx now).
    #[must_use = "a raise must be injected"]
    pub fn ring(&self) -> bool {
        self.line.signal()
    }

    /// A guest read of `width` at `offset` in BAR0. INTR_STATUS clears as it is read.
    pub fn read(&self, offset: u64, width: Width) -> u64 {
        if width != Width::Word || !offset.is_multiple_of(4) {
            return 0;
        }
        let endpoint = &self.endpoint;
        let value = match offset {
            INTR_MASK => self.line.mask(),
            INTR_STATUS => self.line.take_status(),
            IV_POSITION => endpoint.position,
            CHANNEL_ID => endpoint.channel_id,
            ENDPOINTS => endpoint.endpoints,
            READ_ONLY => u32::from(endpoint.read_only),
            LABEL..LABEL_END => endpoint.label.word(((offset - LABEL) / 4) as usize),
            _ => 0,
        };
        u64::from(value)
    }

    /// A guest write of the low `width` bytes of `value` at `offset` in BAR0.
    pub fn write(&self, offset: u64, width: Width, value: u64) -> Effects {
        if width != Width::Word {
            return Effects::NONE;
        }
        let value = value as u32;
        match offset {
            INTR_MASK => Effects::raise_if(self.line.set_mask(value)),
            DOORBELL => Effects {
                raise: false,
                ring: self.doorbell(value),
            },
            _ => Effects::NONE,
        }
    }

    /// Decodes a DOORBELL write `peer << 16 | vector`: vector 0 only; peer
    /// [`ALL_PEERS`] or another endpoint of the channel, else nothing.
    fn doorbell(&self, value: u32) -> Option<Ring> {
        let (peer, vector) = (value >> 16, value & 0xFFFF);
        if vector != 0 {
            None
        } else if peer == ALL_PEERS {
            Some(Ring { peer: None })
        } else if peer < self.endpoint.endpoints && peer != self.endpoint.position {
            Some(Ring {
                peer: Some(peer as usize),
            })
        } else {
            None
        }
    }
}

/// One past the label's last byte.
const LABEL_END: u64 = LABEL + LABEL_SIZE;

const _: () = assert!(LABEL_SIZE as usize == Label::SIZE);
