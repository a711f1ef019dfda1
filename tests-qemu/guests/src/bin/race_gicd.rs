//! Guest `race_gicd`: reconfigures its UART's SPI thousands of times (trigger mode, priority, enable) while a neighbour does the same in the same distributor words, and checks each setting took effect in the physical GIC.
//!
//! Options (`/chosen/bootargs`): `start=level|edge` (mode of the first
//! iteration; it alternates), `final=level|edge`, `iterations=<n>`
//! (default 2000), `final-bytes=<n>` (default 200), `linger-ms=<n>` before
//! SYSTEM_OFF (default 0), `print=console` to report through CONSOLE_WRITE
//! instead of its own UART.
//!
//! Every iteration disables its INTID, rewrites its GICD_ICFGR field
//! (read-modify-write of the word, which the two partitions share),
//! writes its GICD_IPRIORITYR byte, enables it, reads all of that back
//! through the emulated distributor (and that no other INTID's bit shows
//! in the shared words), then sends one byte round the PL011 loopback
//! with the receive interrupt unmasked. The interrupt handler does not
//! drain the receiver until the [`REFIRES`]th interrupt for that byte,
//! so the physical trigger mode shows in the count: level-sensitive, the
//! still-high line fires again after every EOI, exactly [`REFIRES`] times;
//! edge-triggered, it fires once (the main code drains after a settle
//! window). A lost update of the shared word flips the count. After the
//! loop it sets its final mode and checks `final-bytes` more bytes.
//!
//! Lines: `gicd start uart=<base> intid=<n> start=<m> final=<m>`, `gicd loop
//! iterations=<n> readback_mismatches=<a> foreign_visible=<b> bytes=<n>
//! matched=<m> foreign_bytes=<f> interrupts=<i> expected_interrupts=<e>
//! count_mismatches=<c> first_mismatch_iteration=<i> first_mismatch_count=<c>`,
//! `gicd final mode=<m> ...` (the same counters for the final phase),
//! `gicd done`.
#![no_std]
#![no_main]

#[path = "race/common.rs"]
mod common;

use bulkhead_guests::gic::{self, gicd};
use bulkhead_guests::pl011::{self, Pl011};
use bulkhead_guests::{guest_main, irq, mark, println, psci, timer, BootInfo};
use common::{option, option_u64};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

/// Interrupts a level-sensitive byte raises before the handler drains it.
pub const REFIRES: u64 = 4;
/// Longest wait for a byte's interrupts (generous: the host may
/// deschedule this vCPU; only a wrong count ever waits this long).
const BYTE_TIMEOUT_MS: u64 = 100;
/// How long an edge-triggered byte is watched for a second interrupt.
const SETTLE_US: u64 = 200;
/// A phase stops after this many wrong counts (each may cost a timeout).
const MISMATCH_LIMIT: u64 = 20;
/// Pause between the first report line and loopback on: a console that
/// drains CONSOLE_WRITE output later must not loop it into our receiver
/// when the UART is Bulkhead's console too.
const QUIET_MS: u64 = 100;
/// UART1 and its INTID, when the device tree does not say.
const DEFAULT_UART: u64 = 0x0904_0000;
const DEFAULT_INTID: u32 = 40;
/// What goes round the loopback: printable, a newline every 64 bytes so
/// the UART's log stays in lines.
const BYTES: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// GICD_ICFGR field values.
const LEVEL: u8 = 0b00;
const EDGE: u8 = 0b10;

static UART: AtomicU64 = AtomicU64::new(DEFAULT_UART);
/// The byte in flight, whether it came back, interrupts for it, bytes that were not it.
static EXPECTED: AtomicU8 = AtomicU8::new(0);
static GOT: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicU64 = AtomicU64::new(0);
static FOREIGN_BYTES: AtomicU64 = AtomicU64::new(0);
static INTID: AtomicU32 = AtomicU32::new(DEFAULT_INTID);

fn uart() -> Pl011 {
    Pl011 {
        base: UART.load(Ordering::Acquire),
    }
}

/// Empties the receiver (which drops the interrupt line). Runs in the
/// handler or with IRQs masked.
fn drain() {
    let uart = uart();
    while let Some(byte) = uart.read_byte() {
        if byte == EXPECTED.load(Ordering::Acquire) && !GOT.load(Ordering::Acquire) {
            GOT.store(true, Ordering::Release);
        } else {
            FOREIGN_BYTES.fetch_add(1, Ordering::AcqRel);
        }
    }
    uart.clear_interrupts(pl011::INT_RX | pl011::INT_RT);
}

fn receive(_irq: &irq::Irq) {
    if COUNT.fetch_add(1, Ordering::AcqRel) + 1 >= REFIRES {
        drain();
    }
}

/// Counters of one phase.
#[derive(Default)]
struct Phase {
    iterations: u64,
    readback_mismatches: u64,
    foreign_visible: u64,
    bytes: u64,
    matched: u64,
    interrupts: u64,
    expected_interrupts: u64,
    count_mismatches: u64,
    first_mismatch_iteration: u64,
    first_mismatch_count: u64,
}

impl Phase {
    fn check(&mut self, good: bool) {
        if !good {
            self.readback_mismatches += 1;
        }
    }

    /// Sends one byte round the loopback and counts its interrupts against `mode`.
    fn send(&mut self, mode: u8, byte: u8) {
        EXPECTED.store(byte, Ordering::Release);
        GOT.store(false, Ordering::Release);
        COUNT.store(0, Ordering::Release);
        uart().write_byte(byte);
        let expected = if mode == LEVEL { REFIRES } else { 1 };
        if mode == LEVEL {
            irq::wait_until(BYTE_TIMEOUT_MS, || GOT.load(Ordering::Acquire));
        } else {
            irq::wait_until(BYTE_TIMEOUT_MS, || COUNT.load(Ordering::Acquire) >= 1);
            let end = timer::now() + common::ticks_from_us(SETTLE_US);
            while timer::now() < end {
                core::hint::spin_loop();
            }
        }
        // Whatever came (or not), leave the receiver empty and the line low.
        irq::disable();
        drain();
        irq::enable();
        let count = COUNT.load(Ordering::Acquire);
        self.bytes += 1;
        self.matched += u64::from(GOT.load(Ordering::Acquire));
        self.interrupts += count;
        self.expected_interrupts += expected;
        if count != expected || !GOT.load(Ordering::Acquire) {
            if self.count_mismatches == 0 {
                self.first_mismatch_iteration = self.iterations;
                self.first_mismatch_count = count;
            }
            self.count_mismatches += 1;
        }
    }
}

/// Sets `intid`'s trigger mode and priority (disabled meanwhile, as the
/// GIC requires) and reads everything back; counts what differs.
fn configure(gic: &gic::Gic, intid: u32, mode: u8, priority: u8, phase: &mut Phase) {
    let (word, bit) = gic::bit_position(intid);
    gic.disable_spi(intid);
    let enables = gic::read32(gic.gicd(gicd::ISENABLER + word));
    phase.check(enables & bit == 0);
    phase.foreign_visible += u64::from(enables & !bit != 0);

    let config = gic.gicd(gicd::ICFGR + u64::from(intid / 16) * 4);
    let shift = (intid % 16) * 2;
    let value = gic::read32(config);
    phase.foreign_visible += u64::from(value & !(0b11 << shift) != 0);
    gic::write32(
        config,
        (value & !(0b11 << shift)) | (u32::from(mode) << shift),
    );
    let value = gic::read32(config);
    phase.check((value >> shift) & 0b11 == u32::from(mode));
    phase.foreign_visible += u64::from(value & !(0b11 << shift) != 0);

    let priority_register = gic.gicd(gicd::IPRIORITYR + u64::from(intid));
    gic::write8(priority_register, priority);
    phase.check(gic::read8(priority_register) == priority);

    gic::write32(gic.gicd(gicd::ISENABLER + word), bit);
    let enables = gic::read32(gic.gicd(gicd::ISENABLER + word));
    phase.check(enables & bit != 0);
    phase.foreign_visible += u64::from(enables & !bit != 0);
}

fn mode_name(mode: u8) -> &'static str {
    if mode == LEVEL {
        "level"
    } else {
        "edge"
    }
}

fn parse_mode(text: Option<&str>, default: u8) -> u8 {
    match text {
        Some("level") => LEVEL,
        Some("edge") => EDGE,
        _ => default,
    }
}

/// The `iteration`th byte sent.
fn byte(iteration: u64) -> u8 {
    if iteration % 64 == 63 {
        b'\n'
    } else {
        BYTES[(iteration % BYTES.len() as u64) as usize]
    }
}

fn main(boot: &BootInfo) -> ! {
    let args = common::bootargs(boot.dtb);
    let start_mode = parse_mode(option(args, "start"), LEVEL);
    let final_mode = parse_mode(option(args, "final"), LEVEL);
    let iterations = option_u64(args, "iterations", 2000);
    let final_bytes = option_u64(args, "final-bytes", 200);
    let linger_ms = option_u64(args, "linger-ms", 0);
    let console = option(args, "print") == Some("console");
    let report = |args: core::fmt::Arguments| {
        if console {
            mark!("{args}")
        } else {
            println!("{args}")
        }
    };

    let base = boot
        .dt
        .and_then(|dt| dt.stdout_uart)
        .unwrap_or(DEFAULT_UART);
    let intid = boot
        .dt
        .and_then(|dt| dt.stdout_uart_intid)
        .unwrap_or(DEFAULT_INTID);
    UART.store(base, Ordering::Release);
    INTID.store(intid, Ordering::Release);
    report(format_args!(
        "gicd start uart={base:#x} intid={intid} start={} final={} iterations={iterations}",
        mode_name(start_mode),
        mode_name(final_mode)
    ));

    let uart = uart();
    uart.set_interrupt_mask(0);
    let gic = boot.gic();
    gic::configure(gic);
    gic.init_distributor();
    gic.init_cpu();
    irq::set_handler(intid, receive);
    gic.enable_spi(intid, gic::own_affinity());
    irq::enable();
    timer::delay_ms(QUIET_MS);
    uart.set_loopback(true);
    uart.set_interrupt_mask(pl011::INT_RX);

    let mut looped = Phase::default();
    for iteration in 0..iterations {
        let mode = if iteration % 2 == 0 {
            start_mode
        } else {
            start_mode ^ EDGE
        };
        let priority = 0x80 + 0x10 * (iteration % 4) as u8;
        configure(&gic, intid, mode, priority, &mut looped);
        looped.send(mode, byte(iteration));
        looped.iterations += 1;
        if looped.count_mismatches >= MISMATCH_LIMIT {
            break;
        }
    }

    let mut last = Phase::default();
    configure(&gic, intid, final_mode, gic::DEFAULT_PRIORITY, &mut last);
    for iteration in 0..final_bytes {
        last.send(final_mode, byte(iteration));
        last.iterations += 1;
        if last.count_mismatches >= MISMATCH_LIMIT {
            break;
        }
    }
    uart.set_interrupt_mask(0);
    uart.set_loopback(false);
    irq::disable();
    let foreign = FOREIGN_BYTES.load(Ordering::Acquire);

    // A newline closes the last line of looped-back bytes on the UART's log.
    uart.write_byte(b'\n');
    for (name, phase) in [("loop", &looped), ("final", &last)] {
        report(format_args!(
            "gicd {name} mode={} iterations={} readback_mismatches={} foreign_visible={} bytes={} \
             matched={} interrupts={} expected_interrupts={} count_mismatches={} \
             first_mismatch_iteration={} first_mismatch_count={}",
            if name == "loop" {
                "alternating"
            } else {
                mode_name(final_mode)
            },
            phase.iterations,
            phase.readback_mismatches,
            phase.foreign_visible,
            phase.bytes,
            phase.matched,
            phase.interrupts,
            phase.expected_interrupts,
            phase.count_mismatches,
            phase.first_mismatch_iteration,
            phase.first_mismatch_count
        ));
    }
    report(format_args!("gicd done foreign_bytes={foreign}"));
    timer::delay_ms(linger_ms);
    psci::system_off()
}

guest_main!(main);
