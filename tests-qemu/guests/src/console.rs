//! Line-oriented output: the partition's own PL011 or mini UART, or the CONSOLE_WRITE hypercall.
//!
//! Every line is formatted into a buffer first and written under one lock, so
//! two vCPUs never interleave within a line, and a hypercall console gets one
//! call per line (Bulkhead prefixes each line with the partition's label).

use core::fmt::{self, Write};
use spin::Mutex;

/// Longest line kept; longer output is truncated.
pub const LINE_MAX: usize = 256;

/// QEMU virt's first PL011: the fallback when running without Bulkhead.
const BARE_UART: usize = 0x0900_0000;

/// PL011 data register offset.
const UART_DR: usize = 0x00;
/// PL011 flag register offset.
const UART_FR: usize = 0x18;
/// PL011 control register offset.
const UART_CR: usize = 0x30;
/// FR: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// CR: UART, transmit and receive enable.
const CR_ENABLE: u32 = (1 << 0) | (1 << 8) | (1 << 9);

/// Where lines go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// A PL011 this partition owns, by base address (IPA == PA for devices).
    Uart(usize),
    /// A BCM2835 mini UART this partition owns (the Raspberry Pi's UART1).
    MiniUart(crate::mini_uart::MiniUart),
    /// Bulkhead's CONSOLE_WRITE hypercall.
    Hypercall,
}

static SINK: Mutex<Sink> = Mutex::new(Sink::Hypercall);

/// Bulkhead's virtual PL011 (`config::virtual_console::VIRTUAL_UART`): a
/// partition that owns no UART sees it as its stdout.
pub const VIRTUAL_UART: u64 = 0x3f20_0000;

/// Picks the output: the device tree's stdout PL011 if the partition owns
/// one. On Bulkhead's virtual PL011 lines go through CONSOLE_WRITE instead:
/// they land on the same console, tagged alike, for one trap per line
/// rather than one per byte ([`use_uart`] picks the virtual UART).
pub fn init(uart: Option<u64>) {
    if let Some(base) = uart.filter(|&base| base != VIRTUAL_UART) {
        let base = base as usize;
        uart_enable(base);
        *SINK.lock() = Sink::Uart(base);
    }
}

/// Sends lines to the PL011 at `base` from now on (e.g. the virtual one).
pub fn use_uart(base: u64) {
    let base = base as usize;
    uart_enable(base);
    *SINK.lock() = Sink::Uart(base);
}

/// Sends lines to the mini UART at `base` from now on: a partition given
/// the Raspberry Pi's UART1, which its DT's `stdout-path` does not name
/// (Bulkhead names only a PL011 there).
pub fn use_mini_uart(base: u64) {
    *SINK.lock() = Sink::MiniUart(crate::mini_uart::MiniUart { base });
}

fn uart_enable(base: usize) {
    // SAFETY: `base` is a PL011 this partition owns (from its device tree)
    // or the bare board's UART, identity-mapped as Device memory by `mmu`.
    unsafe { core::ptr::write_volatile((base + UART_CR) as *mut u32, CR_ENABLE) };
}

/// The current sink.
pub fn sink() -> Sink {
    *SINK.lock()
}

/// A fixed buffer that formats one line, truncating what does not fit.
pub struct Line {
    bytes: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Self {
            bytes: [0; LINE_MAX],
            len: 0,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }

    /// Formats `args` followed by a newline.
    pub fn format(args: fmt::Arguments) -> Self {
        let mut line = Self::new();
        let _ = line.write_fmt(args);
        // Keep room for the newline even when truncated.
        line.len = line.len.min(LINE_MAX - 1);
        if let Some(slot) = line.bytes.get_mut(line.len) {
            *slot = b'\n';
            line.len += 1;
        }
        line
    }
}

impl Default for Line {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
        }
        Ok(())
    }
}

fn uart_write(base: usize, bytes: &[u8]) {
    for &byte in bytes {
        // SAFETY: `base` is a PL011 this partition owns (or the bare board's
        // UART), mapped as Device memory; FR and DR are 32-bit registers.
        unsafe {
            while core::ptr::read_volatile((base + UART_FR) as *const u32) & FR_TXFF != 0 {
                core::hint::spin_loop();
            }
            core::ptr::write_volatile((base + UART_DR) as *mut u32, u32::from(byte));
        }
    }
}

/// Writes through CONSOLE_WRITE; with no hypervisor to answer, switches the
/// sink to the board's UART (the bare-QEMU case) and writes there.
fn hypercall_write(sink: &mut Sink, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let written = crate::hypercall::console_write(rest);
        if written <= 0 {
            *sink = Sink::Uart(BARE_UART);
            uart_enable(BARE_UART);
            uart_write(BARE_UART, rest);
            return;
        }
        rest = rest.get(written as usize..).unwrap_or(&[]);
    }
}

fn write_locked(sink: &mut Sink, bytes: &[u8]) {
    match *sink {
        Sink::Uart(base) => uart_write(base, bytes),
        Sink::MiniUart(uart) => bytes.iter().for_each(|&byte| uart.write_byte(byte)),
        Sink::Hypercall => hypercall_write(sink, bytes),
    }
}

/// Prints one formatted line to the partition's console.
pub fn print_line(args: fmt::Arguments) {
    let line = Line::format(args);
    let mut sink = SINK.lock();
    write_locked(&mut sink, line.as_bytes());
}

/// Prints one line through CONSOLE_WRITE even if the partition owns a UART:
/// those lines land on UART0 in one serialised stream with Bulkhead's own
/// log, so scenarios can order events of different partitions.
pub fn mark_line(args: fmt::Arguments) {
    let line = Line::format(args);
    let _guard = SINK.lock();
    let mut sink = Sink::Hypercall;
    hypercall_write(&mut sink, line.as_bytes());
}

/// Prints without taking the lock: for the panic and exception paths, where
/// the interrupted code may hold it.
pub fn emergency_line(args: fmt::Arguments) {
    let line = Line::format(args);
    let mut sink = match SINK.try_lock() {
        Some(sink) => *sink,
        None => Sink::Hypercall,
    };
    write_locked(&mut sink, line.as_bytes());
}

/// `println!` to the partition's console, one line per call.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {
        $crate::console::print_line(format_args!($($arg)*))
    };
}

/// A line through CONSOLE_WRITE (lands on UART0 as `[label] ...`).
#[macro_export]
macro_rules! mark {
    ($($arg:tt)*) => {
        $crate::console::mark_line(format_args!($($arg)*))
    };
}
