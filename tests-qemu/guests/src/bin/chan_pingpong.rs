//! Guest `chan_pingpong`: [`ROUNDS`] doorbell round trips on channel 0 between its two endpoints.
//!
//! Endpoint 0 pings: writes PING = n in its lane, rings endpoint 1 and
//! sleeps until it has taken n doorbells and endpoint 1's PONG reads n.
//! Endpoint 1 pongs: sleeps until it has taken n doorbells, echoes PING
//! into its own PONG and rings back. Each side waits for the doorbell
//! itself (not only for the memory), so no ring can find the previous one
//! still pending: both must count exactly ROUNDS doorbells. After the last
//! round each side waits [`SETTLE_MS`] for a doubled doorbell, then prints
//! `chan pingpong role=<ping|pong> rounds=<n> doorbells=<d> mismatches=<m> notify_errors=<e> ticks=<t> cntfrq=<f>`
//! (`ticks`: counter ticks of the ping side's whole loop) and powers off.
#![no_std]
#![no_main]

use bulkhead_abi::transfer::{PING, PONG};
use bulkhead_guests::{channel, guest_main, irq, mark, psci, timer, BootInfo};

/// Round trips (the ping-pong test).
pub const ROUNDS: u64 = 10_000;
/// How long each side waits after the last round for a doubled doorbell.
const SETTLE_MS: u64 = 20;

fn main(boot: &BootInfo) -> ! {
    let ch = channel::open(boot, 0, "chan pingpong");
    irq::enable();
    let (own, peer) = (ch.index, ch.peer());
    let ping = own == 0;
    let (mut mismatches, mut notify_errors) = (0u64, 0u64);
    let start = timer::now();
    for n in 1..=ROUNDS {
        if ping {
            ch.set(own, PING, n);
            if channel::notify(ch.id, peer) != 0 {
                notify_errors += 1;
            }
            irq::sleep_until(|| ch.doorbells() >= n);
            if ch.get(peer, PONG) != n {
                mismatches += 1;
            }
        } else {
            irq::sleep_until(|| ch.doorbells() >= n);
            let value = ch.get(peer, PING);
            if value != n {
                mismatches += 1;
            }
            ch.set(own, PONG, value);
            if channel::notify(ch.id, peer) != 0 {
                notify_errors += 1;
            }
        }
    }
    let ticks = timer::now() - start;
    timer::delay_ms(SETTLE_MS);
    mark!(
        "chan pingpong role={} rounds={ROUNDS} doorbells={} mismatches={mismatches} notify_errors={notify_errors} ticks={ticks} cntfrq={}",
        if ping { "ping" } else { "pong" },
        ch.doorbells(),
        boot.frequency
    );
    psci::system_off()
}

guest_main!(main);
