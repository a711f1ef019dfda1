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

use bulkhead_abi::transfer::{self, ACK, CHECKSUM, LENGTH, PING, PONG, SEQUENCE};
use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{gic, guest_main, irq, println, psci, BootInfo};
use bulkhead_workload::dma;
use core::sync::atomic::Ordering;

/// Bytes the partner sends (mirror `tests-qemu/scenarios/src/linux_channels.rs`).
pub const SEND_BYTES: u64 = 1 << 20;
/// Pings it answers (mirror the Linux side's `bulkhead ping 0 <n>`).
pub const PONGS: u64 = 1000;

/// Seed of the partner's stream.
pub const fn stream_seed() -> u64 {
    dma::seed(0x11a7, 1)
}

fn receive(ch: &Channel) {
    let peer = ch.peer();
    let (offset, _) = transfer::data_area(ch.size, peer);
    let mut acked = ch.get(peer, ACK);
    let (mut bytes, mut chunks, mut bad_chunks, mut total) =
        (0u64, 0u64, 0u64, transfer::CHECKSUM_SEED);
    loop {
        irq::sleep_until(|| ch.get(peer, SEQUENCE) > acked);
        let sequence = ch.get(peer, SEQUENCE);
        let len = ch.get(peer, LENGTH);
        let chunk = ch.bytes(offset, len);
        let sum = transfer::checksum(transfer::CHECKSUM_SEED, chunk);
        total = transfer::checksum(total, chunk);
        if sum != ch.get(peer, CHECKSUM) {
            bad_chunks += 1;
        }
        acked = sequence;
        ch.set(peer, ACK, acked);
        let _ = channel::notify(ch.id, peer);
        if len == 0 {
            break;
        }
        bytes += len;
        chunks += 1;
    }
    println!("chan partner received bytes={bytes} chunks={chunks} checksum={total:#018x} bad_chunks={bad_chunks}");
}

fn send(ch: &Channel) {
    let own = ch.index;
    let peer = ch.peer();
    let (offset, capacity) = transfer::data_area(ch.size, own);
    let mut sequence = ch.get(own, SEQUENCE);
    let (mut sent, mut total) = (0u64, transfer::CHECKSUM_SEED);
    loop {
        irq::sleep_until(|| ch.get(own, ACK) == sequence);
        let len = capacity.min(SEND_BYTES - sent);
        let mut sum = transfer::CHECKSUM_SEED;
        for index in 0..len / 8 {
            let word = dma::word(stream_seed(), sent / 8 + index);
            ch.word(offset + index * 8).store(word, Ordering::Relaxed);
            sum = transfer::checksum(sum, &word.to_le_bytes());
            total = transfer::checksum(total, &word.to_le_bytes());
        }
        ch.set(own, LENGTH, len);
        ch.set(own, CHECKSUM, sum);
        sequence += 1;
        ch.set(own, SEQUENCE, sequence);
        let _ = channel::notify(ch.id, peer);
        if len == 0 {
            break;
        }
        sent += len;
    }
    irq::sleep_until(|| ch.get(own, ACK) == sequence);
    println!("chan partner sent bytes={sent} checksum={total:#018x}");
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
    gic::configure(boot.gic());
    let gic = gic::configured();
    gic.init_distributor();
    gic.init_cpu();
    let ch = match channel::info(0) {
        Ok(ch) => ch,
        Err(error) => {
            println!("chan partner error: CHANNEL_INFO(0) = {error}");
            psci::system_off()
        }
    };
    ch.enable_doorbell();
    irq::enable();
    println!(
        "chan partner ready index={} size={} doorbell={}",
        ch.index, ch.size, ch.doorbell
    );
    receive(&ch);
    send(&ch);
    pong(&ch);
    psci::system_off()
}

guest_main!(main);
