//! Guest `irq_owner`: owns a UART and its SPI; no one else's writes may fire it, its own device does.
//!
//! Enables its UART's INTID (from the device tree, else UART1's 40) routed
//! to itself with the UART's interrupts masked, prints `spi owner ready`,
//! listens [`LISTEN_MS`] while the intruder attacks and prints `spi owner
//! spurious=<n> total=<m>`. Then it turns PL011 loopback on, unmasks the
//! receive interrupts and sends [`PAYLOAD`] one byte at a time, waiting for
//! each byte's interrupt, and prints `uart rx interrupts=<n> count=<bytes>
//! bytes=<text>`. QEMU's PL011 also transmits looped-back bytes, so the
//! payload shows up on the UART as a line of its own.
//!
//! Given a BCM2835 mini UART instead of a PL011 (the Raspberry Pi's UART1:
//! QEMU raspi4b models no other UART besides UART0, which is Bulkhead's),
//! it owns that UART's SPI and, since QEMU's mini UART has no loopback and
//! nothing feeds its receiver, raises the one interrupt it can raise itself:
//! for each payload byte it transmits the byte, then enables the transmit
//! interrupt, which the handler takes and disables again (one interrupt per
//! byte, the line low between them), and prints `uart tx interrupts=<n>
//! count=<bytes> total=<m>`; the payload shows up on the mini UART's output.
//!
//! Every line goes through CONSOLE_WRITE (`[label] ` on UART0), so the
//! scenario can order it against the intruder's lines.
#![no_std]
#![no_main]

use bulkhead_guests::mini_uart::{self, MiniUart};
use bulkhead_guests::pl011::{self, Pl011};
use bulkhead_guests::{gic, guest_main, irq, mark, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

/// UART1 and its INTID, when the device tree does not say.
const DEFAULT_UART: u64 = 0x0904_0000;
const DEFAULT_INTID: u32 = 40;
/// Listening window, covering the intruder's settle time and attack.
const LISTEN_MS: u64 = 3000;
/// What goes round the loopback (its newline keeps the UART log in lines).
pub const PAYLOAD: &[u8] = b"rx-probe\n";
/// Longest wait for one byte's interrupt.
const BYTE_TIMEOUT_MS: u64 = 1000;

/// The UART the handler drains.
static UART: AtomicU64 = AtomicU64::new(DEFAULT_UART);
/// Bytes the handler received, in order.
#[allow(clippy::declare_interior_mutable_const)]
const NO_BYTE: AtomicU8 = AtomicU8::new(0);
static RECEIVED: [AtomicU8; 32] = [NO_BYTE; 32];
static RECEIVED_COUNT: AtomicU64 = AtomicU64::new(0);

/// Drains the receive FIFO (which drops the interrupt line).
fn receive(_irq: &irq::Irq) {
    let uart = Pl011 {
        base: UART.load(Ordering::Acquire),
    };
    while let Some(byte) = uart.read_byte() {
        let index = RECEIVED_COUNT.fetch_add(1, Ordering::AcqRel);
        if let Some(slot) = RECEIVED.get(index as usize) {
            slot.store(byte, Ordering::Release);
        }
    }
    uart.clear_interrupts(pl011::INT_RX | pl011::INT_RT);
}

/// Transmit interrupts the mini-UART handler took.
static TRANSMIT_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Mini UART: the transmit interrupt is level while enabled; disabling it
/// drops the line before the EOI.
fn transmitted(_irq: &irq::Irq) {
    let uart = MiniUart {
        base: UART.load(Ordering::Acquire),
    };
    uart.set_interrupt_enable(0);
    TRANSMIT_INTERRUPTS.fetch_add(1, Ordering::AcqRel);
}

/// Sets up the GIC, enables `intid` routed to this vCPU with `handler`,
/// and listens while the intruder attacks.
fn own_and_listen(boot: &BootInfo, base: u64, intid: u32, handler: irq::Handler) {
    let gic = boot.gic();
    gic::configure(gic);
    gic.init_distributor();
    gic.init_cpu();
    irq::set_handler(intid, handler);
    gic.enable_spi(intid, gic::own_affinity());
    irq::enable();
    mark!("spi owner ready uart={base:#x} intid={intid}");
    timer::delay_ms(LISTEN_MS);
    mark!(
        "spi owner spurious={} total={}",
        irq::count(0, intid),
        irq::total(0)
    );
}

/// The owner of a mini UART (no PL011 given).
fn main_mini_uart(boot: &BootInfo, base: u64, intid: u32) -> ! {
    UART.store(base, Ordering::Release);
    let uart = MiniUart { base };
    uart.set_interrupt_enable(0);
    own_and_listen(boot, base, intid, transmitted);

    let before = irq::count(0, intid);
    let mut count = 0u64;
    for &byte in PAYLOAD {
        uart.write_byte(byte);
        count += 1;
        uart.set_interrupt_enable(mini_uart::IER_TRANSMIT);
        if !irq::wait_until(BYTE_TIMEOUT_MS, || {
            TRANSMIT_INTERRUPTS.load(Ordering::Acquire) >= count
        }) {
            break;
        }
    }
    uart.set_interrupt_enable(0);
    irq::disable();
    mark!(
        "uart tx interrupts={} count={count} handled={} total={}",
        irq::count(0, intid) - before,
        TRANSMIT_INTERRUPTS.load(Ordering::Acquire),
        irq::total(0)
    );
    psci::system_off()
}

fn main(boot: &BootInfo) -> ! {
    let own_pl011 = boot.dt.and_then(|dt| dt.own_stdout_uart());
    let mini = boot.dt.and_then(|dt| dt.mini_uart);
    if let (None, Some((base, Some(intid)))) = (own_pl011, mini) {
        main_mini_uart(boot, base, intid)
    }
    let dt_uart = boot.dt.and_then(|dt| dt.stdout_uart);
    let base = dt_uart.unwrap_or(DEFAULT_UART);
    let intid = boot
        .dt
        .and_then(|dt| dt.stdout_uart_intid)
        .unwrap_or(DEFAULT_INTID);
    UART.store(base, Ordering::Release);
    let uart = Pl011 { base };
    uart.set_interrupt_mask(0);
    own_and_listen(boot, base, intid, receive);

    let before = irq::count(0, intid);
    uart.set_loopback(true);
    uart.set_interrupt_mask(pl011::INT_RX | pl011::INT_RT);
    for (index, &byte) in PAYLOAD.iter().enumerate() {
        uart.write_byte(byte);
        let expected = index as u64 + 1;
        if !irq::wait_until(BYTE_TIMEOUT_MS, || {
            RECEIVED_COUNT.load(Ordering::Acquire) >= expected
        }) {
            break;
        }
    }
    uart.set_interrupt_mask(0);
    uart.set_loopback(false);
    irq::disable();

    let count = RECEIVED_COUNT.load(Ordering::Acquire);
    let mut text = [0u8; 32];
    for (slot, byte) in text.iter_mut().zip(RECEIVED.iter()).take(count as usize) {
        *slot = byte.load(Ordering::Acquire);
    }
    let text = text.get(..count as usize).unwrap_or(&[]);
    let printable = core::str::from_utf8(text)
        .unwrap_or("<not utf-8>")
        .trim_end();
    mark!(
        "uart rx interrupts={} count={count} bytes={printable} total={}",
        irq::count(0, intid) - before,
        irq::total(0)
    );
    psci::system_off()
}

guest_main!(main);
