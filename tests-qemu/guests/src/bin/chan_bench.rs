//! Guest `chan_bench`: the doorbell round trip and the channel memory's bandwidth, for `cargo xtask bench`.
//!
//! Both endpoints of channel 0 run it. Doorbells are taken without an
//! exception: IRQs stay masked at PSTATE, the guest sleeps in `wfi` (which a
//! pending interrupt ends) and acknowledges through ICC_IAR1_EL1 itself, so
//! the figure is the cost of the doorbell path, not of a guest's vector.
//! - Endpoint 0 rings endpoint 1 and waits for its doorbell back,
//!   [`WARMUP`] times, then [`ROUNDS`] times timed:
//!   `chan bench roundtrips=<n> ticks=<t> cntfrq=<f>`.
//! - Endpoint 0 then copies [`COPY_BYTES`] from its RAM into its own RAM
//!   and into the channel memory, [`COPY_PASSES`] times each, and prints
//!   the last pass of each: `chan bench copy bytes=<n> memcpy_ticks=<a> channel_ticks=<b> cntfrq=<f>`.
//!   Endpoint 1 sleeps meanwhile (under icount it costs nothing).
//! - Endpoint 1 answers every doorbell with one, until endpoint 0 rings
//!   with PING = u64::MAX in its lane, then powers off.
#![no_std]
#![no_main]

use bulkhead_abi::transfer::PING;
use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{gic, guest_main, mark, psci, timer, BootInfo};
use core::arch::asm;

/// Round trips timed, after [`WARMUP`] untimed ones.
pub const ROUNDS: u64 = 10_000;
pub const WARMUP: u64 = 100;
/// Bytes of each copy, and passes of each kind.
pub const COPY_BYTES: u64 = 2 << 20;
pub const COPY_PASSES: u64 = 3;
/// Offsets of the copy buffers in the first region (past image and stacks).
const SOURCE_OFFSET: u64 = 4 << 20;
const DESTINATION_OFFSET: u64 = 8 << 20;

/// Sleeps until the doorbell is pending and takes it (IRQs masked throughout).
fn wait_doorbell(doorbell: u32) {
    loop {
        let intid = gic::acknowledge();
        if intid < gic::SPECIAL_INTID {
            gic::end_of_interrupt(intid);
            if intid == doorbell {
                return;
            }
            continue;
        }
        // SAFETY: `wfi` only waits; a pending interrupt ends it even with
        // IRQs masked at PSTATE.
        unsafe { asm!("wfi", options(nomem, nostack)) };
    }
}

fn copy_ticks(source: u64, destination: u64) -> u64 {
    let start = timer::now();
    // SAFETY: both ranges are COPY_BYTES inside memory this partition owns
    // for its life (its first region, or the channel), and do not overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            source as *const u8,
            destination as *mut u8,
            COPY_BYTES as usize,
        )
    };
    timer::now() - start
}

fn bandwidth(ch: &Channel, boot: &BootInfo) {
    let Some((base, size)) = boot.first_region() else {
        mark!("chan bench error: no memory region");
        return;
    };
    if size < DESTINATION_OFFSET + COPY_BYTES || ch.size < COPY_BYTES {
        mark!(
            "chan bench error: region {size:#x} or channel {:#x} too small",
            ch.size
        );
        return;
    }
    let (mut memcpy, mut channel) = (0, 0);
    for _ in 0..COPY_PASSES {
        memcpy = copy_ticks(base + SOURCE_OFFSET, base + DESTINATION_OFFSET);
        channel = copy_ticks(base + SOURCE_OFFSET, ch.ipa);
    }
    mark!(
        "chan bench copy bytes={COPY_BYTES} memcpy_ticks={memcpy} channel_ticks={channel} cntfrq={}",
        boot.frequency
    );
}

fn main(boot: &BootInfo) -> ! {
    let ch = channel::open(boot, 0, "chan bench");
    let peer = ch.peer();
    if ch.index == 0 {
        for _ in 0..WARMUP {
            channel::notify(ch.id, peer);
            wait_doorbell(ch.doorbell);
        }
        let start = timer::now();
        for _ in 0..ROUNDS {
            channel::notify(ch.id, peer);
            wait_doorbell(ch.doorbell);
        }
        let ticks = timer::now() - start;
        mark!(
            "chan bench roundtrips={ROUNDS} ticks={ticks} cntfrq={}",
            boot.frequency
        );
        bandwidth(&ch, boot);
        ch.set(ch.index, PING, u64::MAX);
        channel::notify(ch.id, peer);
    } else {
        loop {
            wait_doorbell(ch.doorbell);
            if ch.get(peer, PING) == u64::MAX {
                break;
            }
            channel::notify(ch.id, peer);
        }
    }
    psci::system_off()
}

guest_main!(main);
