//! Guest `irq_sgi`: SGIs between its own two vCPUs, a broadcast, and SGIs aimed at cores it does not have.
//!
//! After [`SETTLE_MS`] (so a listening neighbour partition is up), vCPU 0:
//! 1. ping-pong: sends SGI 1 to vCPU 1 (target list, Aff0 = 1) and waits for
//!    vCPU 1's SGI 2 reply before the next, [`ROUNDS`] times, so no two SGIs
//!    merge and the counts are exact;
//! 2. broadcast: SGI 3 with IRM = 1 ("all but self"), one at a time, which
//!    must reach vCPU 1 only;
//! 3. foreign: SGI 4 to Aff0 = 2, 3 and to cluster Aff1 = 1, which this
//!    partition does not have, then waits [`SETTLE_MS`]: nobody may get it.
//!
//! Prints `sgi pingpong sent=.. received=.. replies=..`, `sgi broadcast
//! sent=.. vcpu0=.. vcpu1=..`, `sgi foreign sent=.. vcpu0=.. vcpu1=..`,
//! `sgi totals vcpu0=.. vcpu1=..` and `sgi sources gic=v2 ping=<mask>
//! pong=<mask> broadcast=<mask> spending=<mask>` (bit n: a source CPU n
//! was seen; GICv2 only, a GICv3 SGI has no source: `sgi sources gic=v3`),
//! between `sgi attack start`/`done` lines. After the totals, two SGIs are
//! sent again while the guest is still handling them (a list register then
//! already holds the SGI active; the GIC must not hold it twice):
//! 4. resend: vCPU 0's handler of SGI 6 sends SGI 6 to itself again,
//!    [`RESENDS`] times: exactly one more is taken each time
//!    (`sgi resend sent=.. received=..`);
//! 5. merge: vCPU 0's first handler of SGI 7 (sent by itself) has vCPU 1
//!    send it SGI 7, waits until it did, and sends itself SGI 7 again: a
//!    GICv3 SGI has no source, so one more is taken; a GICv2 one is pending
//!    per source, so two more, one from each vCPU
//!    (`sgi merge received=.. sources=<mask>`).
//!
//! On a GICv2, vCPU 0 then makes [`SELF_PENDING`] pending on itself "from"
//! CPU 2 through GICD_SPENDSGIR and must take it once, with that source.

#![no_std]
#![no_main]

use bulkhead_guests::{gic, guest_main, irq, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// SGIs of each phase.
pub const ROUNDS: u64 = 100;
const PING: u32 = 1;
const PONG: u32 = 2;
const BROADCAST: u32 = 3;
const FOREIGN: u32 = 4;
const SELF_PENDING: u32 = 5;
const RESEND: u32 = 6;
const MERGE: u32 = 7;
/// Times the handler of [`RESEND`] sends it again.
pub const RESENDS: u64 = 20;
/// GICD_SPENDSGIR0: a byte per SGI, a bit per source CPU (GICv2).
const GICD_SPENDSGIR: u64 = 0xF20;
/// Wait before the first SGI, and after the foreign ones.
const SETTLE_MS: u64 = 500;
/// Longest wait for one SGI to arrive.
const ROUND_TIMEOUT_MS: u64 = 1000;

static SECONDARY_READY: AtomicU64 = AtomicU64::new(0);
/// Source CPUs seen per SGI (bit n: source n), GICv2.
static PING_SOURCES: AtomicU64 = AtomicU64::new(0);
static PONG_SOURCES: AtomicU64 = AtomicU64::new(0);
static BROADCAST_SOURCES: AtomicU64 = AtomicU64::new(0);
static SELF_PENDING_SOURCES: AtomicU64 = AtomicU64::new(0);
static MERGE_SOURCES: AtomicU64 = AtomicU64::new(0);
/// vCPU 0 asks vCPU 1 to send it [`MERGE`] (1), vCPU 1 did (2).
static MERGE_REQUEST: AtomicU64 = AtomicU64::new(0);

fn note_source(seen: &AtomicU64) {
    if let Some(source) = gic::acknowledged_source() {
        seen.fetch_or(1 << source, Ordering::AcqRel);
    }
}
static SECONDARY_STOP: AtomicU64 = AtomicU64::new(0);

/// vCPU 1 answers every ping with a pong to vCPU 0.
fn ping(_irq: &irq::Irq) {
    note_source(&PING_SOURCES);
    gic::send_sgi(PONG, 1 << 0);
}

/// vCPU 0 sends [`RESEND`] to itself again while it is active, [`RESENDS`] times.
fn resend(_irq: &irq::Irq) {
    if irq::count(0, RESEND) <= RESENDS {
        gic::send_sgi(RESEND, 1 << 0);
    }
}

/// vCPU 0's first [`MERGE`]: another sender's and its own again, both while
/// this one is active.
fn merge(_irq: &irq::Irq) {
    note_source(&MERGE_SOURCES);
    if irq::count(0, MERGE) != 1 {
        return;
    }
    MERGE_REQUEST.store(1, Ordering::Release);
    let asked = timer::now();
    while MERGE_REQUEST.load(Ordering::Acquire) != 2 {
        if timer::now() - asked > timer::ticks_from_ms(ROUND_TIMEOUT_MS) {
            println!("irq_sgi error: vcpu 1 did not send SGI {MERGE}");
            return;
        }
        core::hint::spin_loop();
    }
    gic::send_sgi(MERGE, 1 << 0);
}

/// Enables every SGI on this vCPU (strays get counted too) and unmasks IRQs.
fn listen(vcpu: u64) {
    let gic = gic::configured();
    let affinity = gic.init_cpu();
    if affinity != vcpu {
        println!("irq_sgi error: vcpu {vcpu} reads GICR_TYPER affinity {affinity:#x}");
    }
    for sgi in 0..16 {
        gic.enable_private(sgi);
    }
    irq::enable();
}

/// Sends `value` and waits for `arrived` to reach `expected`; false on timeout.
fn send_and_wait(value: u64, arrived: impl Fn() -> u64, expected: u64) -> bool {
    gic::send_sgi_raw(value);
    irq::wait_until(ROUND_TIMEOUT_MS, || arrived() >= expected)
}

fn main(boot: &BootInfo) -> ! {
    gic::configure(boot.gic());
    boot.gic().init_distributor();
    irq::set_handler(PING, ping);
    irq::set_handler(PONG, |_| note_source(&PONG_SOURCES));
    irq::set_handler(BROADCAST, |_| note_source(&BROADCAST_SOURCES));
    irq::set_handler(SELF_PENDING, |_| note_source(&SELF_PENDING_SOURCES));
    irq::set_handler(RESEND, resend);
    irq::set_handler(MERGE, merge);
    listen(0);
    let result = psci::cpu_on(1, 0);
    if result != 0
        || !irq::wait_until(ROUND_TIMEOUT_MS, || {
            SECONDARY_READY.load(Ordering::Acquire) != 0
        })
    {
        println!("irq_sgi error: vcpu 1 did not come up (cpu_on {result})");
        psci::system_off()
    }
    timer::delay_ms(SETTLE_MS);
    println!("sgi attack start");

    let start = timer::now();
    for round in 1..=ROUNDS {
        if !send_and_wait(
            gic::sgi_value(PING, 0, 1 << 1),
            || irq::count(0, PONG),
            round,
        ) {
            println!("irq_sgi error: ping-pong round {round} timed out");
            break;
        }
    }
    println!(
        "sgi pingpong sent={ROUNDS} received={} replies={} ticks={}",
        irq::count(1, PING),
        irq::count(0, PONG),
        timer::now() - start
    );

    let start = timer::now();
    for round in 1..=ROUNDS {
        let value = gic::sgi_broadcast_value(BROADCAST);
        if !send_and_wait(value, || irq::count(1, BROADCAST), round) {
            println!("irq_sgi error: broadcast {round} timed out");
            break;
        }
    }
    println!(
        "sgi broadcast sent={ROUNDS} vcpu0={} vcpu1={} ticks={}",
        irq::count(0, BROADCAST),
        irq::count(1, BROADCAST),
        timer::now() - start
    );

    for _ in 0..ROUNDS {
        gic::send_sgi_raw(gic::sgi_value(FOREIGN, 0, 0b1100));
        gic::send_sgi_raw(gic::sgi_value(FOREIGN, 1, 0b0011));
    }
    timer::delay_ms(SETTLE_MS);
    println!(
        "sgi foreign sent={} vcpu0={} vcpu1={}",
        2 * ROUNDS,
        irq::count(0, FOREIGN),
        irq::count(1, FOREIGN)
    );
    println!("sgi attack done");
    println!("sgi totals vcpu0={} vcpu1={}", irq::total(0), irq::total(1));
    resend_and_merge();
    SECONDARY_STOP.store(1, Ordering::Release);
    match gic::acknowledged_source() {
        Some(_) => {
            let gic = gic::configured();
            gic::write8(gic.gicd(GICD_SPENDSGIR + u64::from(SELF_PENDING)), 1 << 2);
            if !irq::wait_until(ROUND_TIMEOUT_MS, || irq::count(0, SELF_PENDING) >= 1) {
                println!(
                    "irq_sgi error: SGI {SELF_PENDING} set pending through SPENDSGIR never came"
                );
            }
            println!(
                "sgi sources gic=v2 ping={:#x} pong={:#x} broadcast={:#x} spending={:#x} spending_count={}",
                PING_SOURCES.load(Ordering::Acquire),
                PONG_SOURCES.load(Ordering::Acquire),
                BROADCAST_SOURCES.load(Ordering::Acquire),
                SELF_PENDING_SOURCES.load(Ordering::Acquire),
                irq::count(0, SELF_PENDING)
            )
        }
        None => println!("sgi sources gic=v3"),
    }
    psci::system_off()
}

/// Phases 4 and 5: SGIs sent again while active. Each waits for its last
/// SGI, then [`SETTLE_MS`] more, so a duplicate would be counted.
fn resend_and_merge() {
    gic::send_sgi(RESEND, 1 << 0);
    if !irq::wait_until(ROUND_TIMEOUT_MS, || irq::count(0, RESEND) > RESENDS) {
        println!("irq_sgi error: resent SGI {RESEND} stopped coming");
    }
    timer::delay_ms(SETTLE_MS);
    println!(
        "sgi resend sent={} received={}",
        RESENDS + 1,
        irq::count(0, RESEND)
    );
    let expected = match gic::acknowledged_source() {
        Some(_) => 3,
        None => 2,
    };
    gic::send_sgi(MERGE, 1 << 0);
    if !irq::wait_until(ROUND_TIMEOUT_MS, || irq::count(0, MERGE) >= expected) {
        println!(
            "irq_sgi error: merged SGI {MERGE} came {} times",
            irq::count(0, MERGE)
        );
    }
    timer::delay_ms(SETTLE_MS);
    println!(
        "sgi merge received={} sources={:#x}",
        irq::count(0, MERGE),
        MERGE_SOURCES.load(Ordering::Acquire)
    );
}

fn secondary(vcpu: u64, _context: u64) -> ! {
    listen(vcpu);
    SECONDARY_READY.store(1, Ordering::Release);
    while SECONDARY_STOP.load(Ordering::Acquire) == 0 {
        if MERGE_REQUEST.load(Ordering::Acquire) == 1 {
            gic::send_sgi(MERGE, 1 << 0);
            MERGE_REQUEST.store(2, Ordering::Release);
        }
        core::hint::spin_loop();
    }
    irq::disable();
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
