//! Guest `chan_guard`: channel permissions, from whichever side the layout puts it on.
//!
//! Its role follows from CHANNEL_INFO(0):
//! - **owner** (read-write endpoint 0): fills the channel with pattern
//!   `stream_seed(0)`, checks that ringing itself or a peer that does not
//!   exist is refused, rings endpoint 1 and waits for its doorbell back,
//!   waits [`SETTLE_MS`], checksums again and prints
//!   `chan guard owner before=0x<fnv> after=0x<fnv> ring_self=<r> ring_missing=<r>`;
//! - **reader** (read-only endpoint): checksums the channel
//!   (`chan guard reader read_only=<0|1> checksum=0x<fnv>`), rings back
//!   (`chan guard reader notify=<r>`), then writes a word: Bulkhead stops
//!   it with a fault report (`chan guard reader wrote` would mean it did not);
//! - **outsider** (not an endpoint): prints
//!   `chan guard outsider info=<r> notify=<r> notify_all=<r> info_missing=<r>`,
//!   then reads where the endpoints see the channel ([`CHANNEL_IPA`]): it
//!   has nothing mapped there and is stopped with a report.
#![no_std]
#![no_main]

use bulkhead_abi::{transfer, vendor};
use bulkhead_guests::channel::{self, Channel};
use bulkhead_guests::{gic, guest_main, irq, mark, psci, timer, BootInfo};
use bulkhead_workload::dma;
use core::sync::atomic::Ordering;

/// Where the endpoints see channel 0 (mirror `tests-qemu/layouts/chan_guard.dtso`).
pub const CHANNEL_IPA: u64 = 0x8000_0000;
/// How long the owner waits after the reader's doorbell for its write attempt.
const SETTLE_MS: u64 = 50;

/// Pattern seed of the owner's fill.
pub const fn fill_seed() -> u64 {
    dma::seed(0x9a7d, 0)
}

/// FNV-1a of the whole channel memory.
fn checksum(ch: &Channel) -> u64 {
    (0..ch.size / 8).fold(transfer::CHECKSUM_SEED, |hash, index| {
        let word = ch.word(index * 8).load(Ordering::Relaxed);
        transfer::checksum(hash, &word.to_le_bytes())
    })
}

fn owner(ch: &Channel) -> ! {
    for index in 0..ch.size / 8 {
        ch.word(index * 8)
            .store(dma::word(fill_seed(), index), Ordering::Relaxed);
    }
    let before = checksum(ch);
    let ring_self = channel::notify(ch.id, ch.index);
    let ring_missing = channel::notify(ch.id, 7);
    let _ = channel::notify(ch.id, ch.peer());
    irq::sleep_until(|| ch.doorbells() >= 1);
    timer::delay_ms(SETTLE_MS);
    let after = checksum(ch);
    mark!(
        "chan guard owner before={before:#018x} after={after:#018x} ring_self={ring_self} ring_missing={ring_missing}"
    );
    psci::system_off()
}

fn reader(ch: &Channel) -> ! {
    irq::sleep_until(|| ch.doorbells() >= 1);
    mark!(
        "chan guard reader read_only={} checksum={:#018x}",
        u8::from(ch.read_only),
        checksum(ch)
    );
    mark!(
        "chan guard reader notify={}",
        channel::notify(ch.id, ch.peer())
    );
    ch.word(64).store(0xdead_beef, Ordering::Relaxed);
    mark!("chan guard reader wrote");
    psci::system_off()
}

fn outsider() -> ! {
    let info = channel::info_raw(0)[0] as i64;
    let notify = channel::notify(0, 0);
    let notify_all = channel::notify(0, vendor::ALL_PEERS);
    let info_missing = channel::info_raw(99)[0] as i64;
    mark!(
        "chan guard outsider info={info} notify={notify} notify_all={notify_all} info_missing={info_missing}"
    );
    // SAFETY: a deliberate read of an IPA this partition has nothing
    // mapped at: Bulkhead stops the partition here.
    let value = unsafe { core::ptr::read_volatile(CHANNEL_IPA as *const u64) };
    mark!("chan guard outsider read {value:#x}");
    psci::system_off()
}

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    let gic = gic::configured();
    gic.init_distributor();
    gic.init_cpu();
    let Ok(ch) = channel::info(0) else { outsider() };
    ch.enable_doorbell();
    irq::enable();
    if ch.read_only {
        reader(&ch)
    } else {
        owner(&ch)
    }
}

guest_main!(main);
