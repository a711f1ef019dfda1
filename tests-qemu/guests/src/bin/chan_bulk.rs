//! Guest `chan_bulk`: [`BYTES`] through channel 0 each way, in chunks with checksums (the `abi::transfer` convention).
//!
//! Endpoint 0 sends first and endpoint 1 receives; then the other way. The
//! stream of endpoint `e` is the words `bulkhead_workload::dma::word(stream_seed(e), i)`.
//! The sender waits for each acknowledgement (doorbell), writes the next
//! chunk into its lane's data area with its checksum and rings; the
//! receiver checks every chunk's checksum and every word against the
//! pattern. Each side prints
//! `chan bulk sent bytes=<n> chunks=<c> checksum=0x<fnv>` and
//! `chan bulk received bytes=<n> chunks=<c> checksum=0x<fnv> bad_chunks=<b> bad_words=<w>`
//! (`checksum`: FNV-1a of the whole stream), then `chan bulk done` and powers off.
#![no_std]
#![no_main]

use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{guest_main, irq, mark, psci, BootInfo};
use bulkhead_workload::dma;

/// Bytes each way (the bulk test).
pub const BYTES: u64 = 16 << 20;

/// Seed of endpoint `endpoint`'s stream.
pub const fn stream_seed(endpoint: u64) -> u64 {
    dma::seed(0xc4a7, endpoint)
}

fn send(ch: &Channel) {
    let seed = stream_seed(ch.index);
    let sent = ch.send_words(BYTES, |index| dma::word(seed, index));
    mark!(
        "chan bulk sent bytes={} chunks={} checksum={:#018x}",
        sent.bytes,
        sent.chunks,
        sent.checksum
    );
}

fn receive(ch: &Channel) {
    let seed = stream_seed(ch.peer());
    let got = ch.receive(Some(&|index| dma::word(seed, index)));
    mark!(
        "chan bulk received bytes={} chunks={} checksum={:#018x} bad_chunks={} bad_words={}",
        got.bytes,
        got.chunks,
        got.checksum,
        got.bad_chunks,
        got.bad_words
    );
}

fn main(boot: &BootInfo) -> ! {
    let ch = channel::open(boot, 0, "chan bulk");
    irq::enable();
    if ch.index == 0 {
        send(&ch);
        receive(&ch);
    } else {
        receive(&ch);
        send(&ch);
    }
    mark!("chan bulk done");
    psci::system_off()
}

guest_main!(main);
