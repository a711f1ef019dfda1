//! Channels for bare-metal guests: CHANNEL_INFO, CHANNEL_NOTIFY, the doorbell SPI and the shared memory.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use bulkhead_abi::transfer::{ACK, CHECKSUM, LENGTH, SEQUENCE};
use bulkhead_abi::{ret, transfer, vendor};

use crate::{gic, irq, println, psci, BootInfo};

/// One channel as CHANNEL_INFO describes it to this endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Channel {
    pub id: u64,
    /// Where this partition sees the shared memory (VA == IPA).
    pub ipa: u64,
    pub size: u64,
    /// This endpoint's index.
    pub index: u64,
    pub endpoints: u64,
    pub read_only: bool,
    /// The doorbell's INTID (an edge-triggered virtual SPI).
    pub doorbell: u32,
}

/// Brings up this vCPU's GIC and returns channel `id`, its doorbell enabled
/// (IRQs still masked); if the partition is not an endpoint, prints
/// `<what> error: CHANNEL_INFO(<id>) = <code>` and powers off.
pub fn open(boot: &BootInfo, id: u64, what: &str) -> Channel {
    gic::configure(boot.gic());
    let gic = gic::configured();
    gic.init_distributor();
    gic.init_cpu();
    match info(id) {
        Ok(channel) => {
            channel.enable_doorbell();
            channel
        }
        Err(error) => {
            println!("{what} error: CHANNEL_INFO({id}) = {error}");
            psci::system_off()
        }
    }
}

/// What one side of a stream (the `abi::transfer` convention) moved.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stream {
    pub bytes: u64,
    pub chunks: u64,
    /// FNV-1a of the whole stream.
    pub checksum: u64,
    /// Chunks whose checksum did not match their header (receiver).
    pub bad_chunks: u64,
    /// Words that differed from the expected pattern (receiver, if given one).
    pub bad_words: u64,
}

/// CHANNEL_INFO(id): x0..x6.
pub fn info_raw(id: u64) -> [u64; 7] {
    let (r0, r1, r2, r3, r4, r5, r6): (u64, u64, u64, u64, u64, u64, u64);
    // SAFETY: the call passes register values only; all caller-saved
    // registers are declared clobbered.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") u64::from(vendor::CHANNEL_INFO) => r0,
            inout("x1") id => r1,
            inout("x2") 0u64 => r2,
            inout("x3") 0u64 => r3,
            inout("x4") 0u64 => r4,
            inout("x5") 0u64 => r5,
            inout("x6") 0u64 => r6,
            out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
            out("x17") _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3, r4, r5, r6]
}

/// CHANNEL_INFO(id) decoded, or the SMCCC error.
pub fn info(id: u64) -> Result<Channel, i64> {
    let r = info_raw(id);
    if r[0] as i64 != ret::SUCCESS {
        return Err(r[0] as i64);
    }
    Ok(Channel {
        id,
        ipa: r[1],
        size: r[2],
        index: r[3],
        endpoints: r[4],
        read_only: r[5] == vendor::CHANNEL_READ_ONLY,
        doorbell: r[6] as u32,
    })
}

/// CHANNEL_NOTIFY(id, peer): an SMCCC result.
#[inline(always)]
pub fn notify(id: u64, peer: u64) -> i64 {
    crate::hypercall::call(vendor::CHANNEL_NOTIFY, id, peer, 0)
}

impl Channel {
    /// Enables the doorbell SPI (edge-triggered, routed to this vCPU); the
    /// IRQ layer counts each one taken (`irq::count`).
    pub fn enable_doorbell(&self) {
        let gic = gic::configured();
        gic.enable_spi(self.doorbell, gic::own_affinity());
        let config = gic.gicd(gic::gicd::ICFGR + u64::from(self.doorbell / 16) * 4);
        let edge = 0b10 << ((self.doorbell % 16) * 2);
        gic::write32(config, gic::read32(config) | edge);
    }

    /// Doorbells this vCPU has taken so far.
    pub fn doorbells(&self) -> u64 {
        irq::count(gic::own_vcpu(), self.doorbell)
    }

    /// The peer of a two-endpoint channel.
    pub fn peer(&self) -> u64 {
        1 - self.index.min(1)
    }

    /// The shared u64 at byte `offset` (8-aligned, inside the channel).
    pub fn word(&self, offset: u64) -> &'static AtomicU64 {
        let offset = offset.min(self.size - 8) & !7;
        // SAFETY: the channel memory is mapped into this partition for its
        // whole life (stage 2 at boot, Normal memory in the guest's identity
        // map); AtomicU64 has u64's layout and the address is 8-aligned.
        unsafe { &*((self.ipa + offset) as *const AtomicU64) }
    }

    /// Field `field` of lane `lane`'s transfer header.
    pub fn lane(&self, lane: u64, field: u64) -> &'static AtomicU64 {
        self.word(lane * transfer::LANE_HEADER + field)
    }

    /// Reads a lane field.
    pub fn get(&self, lane: u64, field: u64) -> u64 {
        self.lane(lane, field).load(Ordering::Acquire)
    }

    /// Writes a lane field.
    pub fn set(&self, lane: u64, field: u64, value: u64) {
        self.lane(lane, field).store(value, Ordering::Release);
    }

    /// Sends `bytes` (a multiple of 8) of the words `word(i)` through this
    /// endpoint's lane to the peer, chunk by chunk, then the end marker;
    /// sleeps on the doorbell for each acknowledgement.
    pub fn send_words(&self, bytes: u64, word: impl Fn(u64) -> u64) -> Stream {
        let (own, peer) = (self.index, self.peer());
        let (offset, capacity) = transfer::data_area(self.size, own);
        let mut sequence = self.get(own, SEQUENCE);
        let mut stream = Stream {
            checksum: transfer::CHECKSUM_SEED,
            ..Stream::default()
        };
        loop {
            irq::sleep_until(|| self.get(own, ACK) == sequence);
            let len = capacity.min(bytes - stream.bytes);
            let mut sum = transfer::CHECKSUM_SEED;
            for index in 0..len / 8 {
                let value = word(stream.bytes / 8 + index);
                self.word(offset + index * 8)
                    .store(value, Ordering::Relaxed);
                sum = transfer::checksum(sum, &value.to_le_bytes());
                stream.checksum = transfer::checksum(stream.checksum, &value.to_le_bytes());
            }
            self.set(own, LENGTH, len);
            self.set(own, CHECKSUM, sum);
            sequence += 1;
            self.set(own, SEQUENCE, sequence);
            let _ = notify(self.id, peer);
            if len == 0 {
                break;
            }
            stream.bytes += len;
            stream.chunks += 1;
        }
        irq::sleep_until(|| self.get(own, ACK) == sequence);
        stream
    }

    /// Receives one stream from the peer's lane, checking every chunk's
    /// checksum and, with `expected`, every whole word against `expected(i)`;
    /// acknowledges each chunk with a doorbell.
    pub fn receive(&self, expected: Option<&dyn Fn(u64) -> u64>) -> Stream {
        let peer = self.peer();
        let (offset, _) = transfer::data_area(self.size, peer);
        let mut acked = self.get(peer, ACK);
        let mut stream = Stream {
            checksum: transfer::CHECKSUM_SEED,
            ..Stream::default()
        };
        loop {
            irq::sleep_until(|| self.get(peer, SEQUENCE) > acked);
            let sequence = self.get(peer, SEQUENCE);
            let len = self.get(peer, LENGTH);
            let chunk = self.bytes(offset, len);
            if transfer::checksum(transfer::CHECKSUM_SEED, chunk) != self.get(peer, CHECKSUM) {
                stream.bad_chunks += 1;
            }
            stream.checksum = transfer::checksum(stream.checksum, chunk);
            if let Some(expected) = expected {
                for (index, bytes) in chunk.chunks_exact(8).enumerate() {
                    let mut word = [0; 8];
                    word.copy_from_slice(bytes);
                    if u64::from_le_bytes(word) != expected(stream.bytes / 8 + index as u64) {
                        stream.bad_words += 1;
                    }
                }
            }
            acked = sequence;
            self.set(peer, ACK, acked);
            let _ = notify(self.id, peer);
            if len == 0 {
                break;
            }
            stream.bytes += len;
            stream.chunks += 1;
        }
        stream
    }

    /// The shared bytes `[offset, offset + len)`, clamped to the channel.
    pub fn bytes(&self, offset: u64, len: u64) -> &'static mut [u8] {
        let offset = offset.min(self.size);
        let len = len.min(self.size - offset);
        // SAFETY: inside the channel memory mapped for the partition's
        // life; the transfer convention gives each data area one writer at a
        // time, and the peer only reads it after the header says so.
        unsafe { core::slice::from_raw_parts_mut((self.ipa + offset) as *mut u8, len as usize) }
    }
}
