//! Attack `storm`: spins benignly, then floods Bulkhead with one kind of work for a fixed counter window.
//!
//! `storm=spin|sgi|timer|hypercall|console|uart|dma`, `storm_from_ms=`/`storm_until_ms=`
//! (absolute counter ms). vCPU 1 spins from the start to the end of the
//! storm (taking the SGIs that name it), so both of the attacker's cores are
//! busy in both phases: under icount QEMU runs every core in turn, and a
//! core of the attacker's that wakes up would take its turn from the
//! victim's cores as well, which real cores do not. Before `storm_from_ms`
//! vCPU 0 spins too (the benchmarks' baseline: no trap, no interrupt); from
//! then to `storm_until_ms`:
//! - `spin`: the same spinning (the benchmarks' control);
//! - `sgi`: SGIs to itself (taken and EOIed), to the victim's physical cores
//!   and to all but itself, in a tight loop;
//! - `timer`: its EL1 physical timer (PPI 30) with CVAL 0, always firing;
//!   the handler only counts, and stops the timer at the end;
//! - `hypercall`: NULL hypercalls in a tight loop;
//! - `console`: CONSOLE_WRITE of 4 KiB buffers (one line) in a loop;
//! - `uart`: its virtual PL011 (it owns no UART): junk written to every
//!   register offset, its interrupt unmasked but never taken, RX never
//!   read, then bytes to DR as fast as it can (a line end every 128);
//! - `doorbell`: CHANNEL_NOTIFY of every peer of channel 0 in a tight loop.
//!
//! Prints `attack storm_<storm> result=done count=<n> spinner=<0|1>` (SGIs
//! sent, timer interrupts taken, hypercalls or bytes written; whether vCPU 1
//! spun all along and switched itself off at the end).

use super::{spin_until, ticks_at_ms, wait_until_ms, Args, Done, Own};
use bulkhead_abi::vendor;
use bulkhead_guests::edu::{self, Direction};
use bulkhead_guests::hypercall::{console_write, null_loop};
use bulkhead_guests::{channel, gic, irq, pci, println, psci, timer};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// The EL1 physical timer's PPI.
const PHYSICAL_TIMER_INTID: u32 = 30;
/// PL011 registers the `uart` storm names (DR, CR, IMSC) and CR with the
/// UART, transmitter and receiver on (loopback off).
const UART_DR: u64 = 0x00;
const UART_CR: u64 = 0x30;
const UART_IMSC: u64 = 0x38;
const UART_CR_ENABLE: u32 = 0x301;
/// NULL hypercalls between two looks at the counter.
const NULL_BATCH: u64 = 256;
/// The console storm's buffer: 4095 visible bytes and a newline.
static LINE: [u8; 4096] = {
    let mut line = [b'#'; 4096];
    line[4095] = b'\n';
    line
};
/// When the timer storm ends (ticks), for its handler.
static STORM_END: AtomicU64 = AtomicU64::new(0);
/// The CPU_ON context that makes vCPU 1 the spinner.
pub const SPINNER_CONTEXT: u64 = 0x5350_494e;
/// Set by vCPU 1 once it spins; set by vCPU 0 to end the spinning.
static SPINNING: AtomicU64 = AtomicU64::new(0);
static STOP_SPINNING: AtomicU64 = AtomicU64::new(0);
/// Longest wait for vCPU 1 to start or stop.
const SPINNER_WAIT_MS: u64 = 200;

/// vCPU 1 during a storm: listens to SGIs and spins until told to stop.
pub fn spinner() -> ! {
    let gic = gic::configured();
    gic.init_cpu();
    for sgi in 0..16 {
        gic.enable_private(sgi);
    }
    irq::enable();
    SPINNING.store(1, Ordering::Release);
    while STOP_SPINNING.load(Ordering::Acquire) == 0 {
        let mut n = 256u64;
        while core::hint::black_box(n) != 0 {
            n -= 1;
        }
    }
    irq::disable();
    let _ = psci::cpu_off();
    psci::park()
}

/// CNTP_CTL_EL0 / CNTP_CVAL_EL0 of this vCPU.
fn physical_timer(enable: bool, deadline: u64) {
    // SAFETY: programming this vCPU's own EL1 physical timer (Bulkhead
    // gives partitions their cores' EL1 timers); no memory is touched.
    unsafe {
        asm!(
            "msr cntp_cval_el0, {deadline}",
            "msr cntp_ctl_el0, {ctl}",
            "isb",
            deadline = in(reg) deadline,
            ctl = in(reg) u64::from(enable),
            options(nomem, nostack),
        )
    };
}

/// Physical timer: count (the dispatcher does), stop it once the storm is over.
fn physical_tick(_irq: &irq::Irq) {
    if timer::now() >= STORM_END.load(Ordering::Acquire) {
        physical_timer(false, 0);
    }
}

/// Where the `dma` storm's device writes: an IPA outside the attacker's memory.
const DMA_STORM_TARGET: u64 = 0x7000_0000;

pub fn run(own: &Own, args: &Args) -> Done {
    let storm = args.get("storm").unwrap_or("spin");
    let from_ms = args.number("storm_from_ms", 200);
    let until_ms = args.number("storm_until_ms", 400);
    let until = ticks_at_ms(until_ms);
    own.gic.init_cpu();
    let started = psci::cpu_on(1, SPINNER_CONTEXT) == 0
        && irq::wait_until(SPINNER_WAIT_MS, || SPINNING.load(Ordering::Acquire) != 0);
    wait_until_ms(from_ms);
    let count = match storm {
        "spin" => {
            wait_until_ms(until_ms);
            0
        }
        "sgi" => {
            for sgi in 0..16 {
                own.gic.enable_private(sgi);
            }
            irq::enable();
            let mut sent = 0u64;
            while timer::now() < until {
                gic::send_sgi_raw(gic::sgi_value(1, 0, 1 << 0));
                gic::send_sgi_raw(gic::sgi_value(2, 0, 0b1100));
                gic::send_sgi_raw(gic::sgi_broadcast_value(3));
                sent += 3;
            }
            irq::disable();
            sent
        }
        "timer" => {
            STORM_END.store(until, Ordering::Release);
            irq::set_handler(PHYSICAL_TIMER_INTID, physical_tick);
            own.gic.enable_private(PHYSICAL_TIMER_INTID);
            irq::enable();
            physical_timer(true, 0);
            spin_until(until);
            irq::disable();
            physical_timer(false, 0);
            irq::count(0, PHYSICAL_TIMER_INTID)
        }
        "hypercall" => {
            let mut calls = 0u64;
            while timer::now() < until {
                null_loop(NULL_BATCH);
                calls += NULL_BATCH;
            }
            calls
        }
        // Needs `pci-functions` with an edu: device-to-RAM DMAs at an IPA it
        // has no memory at, back to back; each 4 KiB QEMU's edu writes is
        // 1,024 SMMU fault records.
        "dma" => {
            let scan = pci::scan();
            let mut dmas = 0u64;
            if let Some((_, device, _)) = edu::bring_up(&scan, own.gic) {
                while timer::now() < until {
                    device.start_dma(Direction::ToRam, DMA_STORM_TARGET, edu::DMA_BYTES, false);
                    if device.wait_dma_polling().is_err() {
                        break;
                    }
                    dmas += 1;
                }
            }
            dmas
        }
        "doorbell" => {
            let mut rings = 0u64;
            while timer::now() < until {
                for _ in 0..NULL_BATCH {
                    if channel::notify(0, vendor::ALL_PEERS) == 0 {
                        rings += 1;
                    }
                }
            }
            rings
        }
        "console" => {
            let mut bytes = 0u64;
            while timer::now() < until {
                bytes += console_write(&LINE).max(0) as u64;
            }
            bytes
        }
        "uart" => {
            let base = bulkhead_guests::console::VIRTUAL_UART;
            // Junk everywhere (the loopback bit included, so CR is put back
            // after), then every interrupt unmasked and never serviced.
            for offset in (0..0x1000).step_by(4) {
                gic::write32(base + offset, 0xffff_ffff);
            }
            gic::write32(base + UART_CR, UART_CR_ENABLE);
            gic::write32(base + UART_IMSC, 0x7ff);
            let mut bytes = 0u64;
            while timer::now() < until {
                for index in 0..128u64 {
                    let byte = if index == 127 { b'\n' } else { b'u' };
                    gic::write32(base + UART_DR, u32::from(byte));
                }
                bytes += 128;
            }
            bytes
        }
        other => {
            println!("hostile_attacker error: unknown storm `{other}`");
            psci::system_off()
        }
    };
    STOP_SPINNING.store(1, Ordering::Release);
    let stopped = irq::wait_until(SPINNER_WAIT_MS, || psci::affinity_info(1) == 1);
    println!(
        "attack storm_{storm} result=done count={count} spinner={}",
        u8::from(started && stopped)
    );
    Done("count", count)
}
