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

use bulkhead_abi::transfer::{self, ACK, CHECKSUM, LENGTH, SEQUENCE};
use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{gic, guest_main, irq, mark, psci, BootInfo};
use bulkhead_workload::dma;

/// Bytes each way (the bulk test).
pub const BYTES: u64 = 16 << 20;

/// Seed of endpoint `endpoint`'s stream.
pub const fn stream_seed(endpoint: u64) -> u64 {
    dma::seed(0xc4a7, endpoint)
}

/// FNV-1a over the little-endian bytes of `word`.
fn checksum_word(hash: u64, word: u64) -> u64 {
    transfer::checksum(hash, &word.to_le_bytes())
}

fn send(ch: &Channel) {
    let own = ch.index;
    let peer = ch.peer();
    let (offset, capacity) = transfer::data_area(ch.size, own);
    let mut sequence = ch.get(own, SEQUENCE);
    let (mut sent, mut chunks, mut total) = (0u64, 0u64, transfer::CHECKSUM_SEED);
    loop {
        irq::sleep_until(|| ch.get(own, ACK) == sequence);
        let len = capacity.min(BYTES - sent);
        let mut sum = transfer::CHECKSUM_SEED;
        for index in 0..len / 8 {
            let word = dma::word(stream_seed(own), sent / 8 + index);
            ch.word(offset + index * 8)
                .store(word, core::sync::atomic::Ordering::Relaxed);
            sum = checksum_word(sum, word);
            total = checksum_word(total, word);
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
        chunks += 1;
    }
    irq::sleep_until(|| ch.get(own, ACK) == sequence);
    mark!("chan bulk sent bytes={sent} chunks={chunks} checksum={total:#018x}");
}

fn receive(ch: &Channel) {
    let peer = ch.peer();
    let (offset, _) = transfer::data_area(ch.size, peer);
    let mut acked = ch.get(peer, ACK);
    let (mut received, mut chunks, mut total) = (0u64, 0u64, transfer::CHECKSUM_SEED);
    let (mut bad_chunks, mut bad_words) = (0u64, 0u64);
    loop {
        irq::sleep_until(|| ch.get(peer, SEQUENCE) > acked);
        let sequence = ch.get(peer, SEQUENCE);
        let len = ch.get(peer, LENGTH);
        let mut sum = transfer::CHECKSUM_SEED;
        for index in 0..len / 8 {
            let word = ch
                .word(offset + index * 8)
                .load(core::sync::atomic::Ordering::Relaxed);
            if word != dma::word(stream_seed(peer), received / 8 + index) {
                bad_words += 1;
            }
            sum = checksum_word(sum, word);
            total = checksum_word(total, word);
        }
        if sum != ch.get(peer, CHECKSUM) {
            bad_chunks += 1;
        }
        acked = sequence;
        ch.set(peer, ACK, acked);
        let _ = channel::notify(ch.id, peer);
        if len == 0 {
            break;
        }
        received += len;
        chunks += 1;
    }
    mark!(
        "chan bulk received bytes={received} chunks={chunks} checksum={total:#018x} bad_chunks={bad_chunks} bad_words={bad_words}"
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
            mark!("chan bulk error: CHANNEL_INFO(0) = {error}");
            psci::system_off()
        }
    };
    ch.enable_doorbell();
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
