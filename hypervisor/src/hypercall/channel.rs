//! Channel hypercalls: CHANNEL_INFO and CHANNEL_NOTIFY.

use bulkhead_abi::{ret, vendor};
use bulkhead_core::config::virtual_pci::channel_doorbell_intid;
use bulkhead_core::config::PartitionChannel;

use super::{set_result, Caller};
use crate::arch::aarch64::exception::GuestFrame;
use crate::channel::{self, Peers};

/// The caller's endpoint of channel `id`: INVALID_PARAMETERS if no such
/// channel exists, DENIED if the caller is not one of its endpoints.
fn own_endpoint<'a>(caller: &Caller<'a>, id: u64) -> Result<&'a PartitionChannel, i64> {
    if let Some(own) = caller
        .partition
        .config
        .channels
        .iter()
        .find(|channel| u64::from(channel.id) == id)
    {
        return Ok(own);
    }
    let exists = caller.system.partitions.iter().any(|partition| {
        partition
            .config
            .channels
            .iter()
            .any(|channel| u64::from(channel.id) == id)
    });
    Err(if exists {
        ret::DENIED
    } else {
        ret::INVALID_PARAMETERS
    })
}

pub fn handle(caller: &Caller, function: u32, frame: &mut GuestFrame) {
    let own = match own_endpoint(caller, frame.x[1]) {
        Ok(own) => own,
        Err(error) => {
            set_result(frame, error);
            return;
        }
    };
    match function {
        vendor::CHANNEL_INFO => {
            frame.x[0] = ret::SUCCESS as u64;
            frame.x[1] = own.ipa.0;
            frame.x[2] = own.size;
            frame.x[3] = own.index as u64;
            frame.x[4] = own.peers.len() as u64;
            frame.x[5] = if own.read_only {
                vendor::CHANNEL_READ_ONLY
            } else {
                vendor::CHANNEL_READ_WRITE
            };
            frame.x[6] = u64::from(channel_doorbell_intid(own.slot));
        }
        vendor::CHANNEL_NOTIFY => {
            let peers = match frame.x[2] {
                vendor::ALL_PEERS => Peers::All,
                index => Peers::One(usize::try_from(index).unwrap_or(usize::MAX)),
            };
            let result = match channel::ring(caller.system, caller.partition, own.slot, peers) {
                Ok(()) => ret::SUCCESS,
                Err(_) => ret::INVALID_PARAMETERS,
            };
            set_result(frame, result);
        }
        _ => set_result(frame, ret::NOT_SUPPORTED),
    }
}
