//! Guest `chan_partner`: the bare-metal side of the Linux channel scenarios, on channel 0 (`abi::transfer`).
//!
//! In order: receives one stream from the peer, checking every chunk's
//! checksum (`chan partner received bytes=<n> chunks=<c> checksum=0x<fnv> bad_chunks=<b>`);
//! sends [`SEND_BYTES`] of pattern `stream_seed()` back
//! (`chan partner sent bytes=<n> checksum=0x<fnv>`); answers [`PONGS`]
//! pings (`chan partner pongs=<n> doorbells=<d>`); then powers off.
//! Waits on its doorbell (the peer's uio rings raise it).
#![no_std]
#![no_main]

use bulkhead_abi::transfer::{PING, PONG};
use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{guest_main, irq, println, psci, BootInfo};
use bulkhead_workload::dma;

/// Bytes the partner sends (mirror `tests-qemu/scenarios/src/linux_channels.rs`).
pub const SEND_BYTES: u64 = 1 << 20;
/// Pings it answers (mirror the Linux side's `bulkhead ping 0 <n>`).
pub const PONGS: u64 = 1000;

/// Seed of the partner's stream.
pub const fn stream_seed() -> u64 {
    dma::seed(0x11a7, 1)
}

fn pong(ch: &Channel) {
    let (own, peer) = (ch.index, ch.peer());
    let mut answered = ch.get(own, PONG);
    let first = answered;
    while answered < first + PONGS {
        irq::sleep_until(|| ch.get(peer, PING) > answered);
        answered = ch.get(peer, PING);
        ch.set(own, PONG, answered);
        let _ = channel::notify(ch.id, peer);
    }
    println!(
        "chan partner pongs={} doorbells={}",
        answered - first,
        ch.doorbells()
    );
}

fn main(boot: &BootInfo) -> ! {
    let ch = channel::open(boot, 0, "chan partner");
    irq::enable();
    println!(
        "chan partner ready index={} size={} doorbell={}",
        ch.index, ch.size, ch.doorbell
    );
    let got = ch.receive(None);
    println!(
        "chan partner received bytes={} chunks={} checksum={:#018x} bad_chunks={}",
        got.bytes, got.chunks, got.checksum, got.bad_chunks
    );
    let sent = ch.send_words(SEND_BYTES, |index| dma::word(stream_seed(), index));
    println!(
        "chan partner sent bytes={} checksum={:#018x}",
        sent.bytes, sent.checksum
    );
    pong(&ch);
    psci::system_off()
}

guest_main!(main);
