//! The hypervisor console: a polled PL011 behind a lock, and the `log` backend on it.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite};

register_structs! {
    /// PL011 registers used for polled output (PrimeCell UART TRM, 3.2).
    Pl011Registers {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32>),
        (0x1c => @END),
    }
}

const FR_TXFF: u32 = 1 << 5;

/// Base address of the console PL011 (identity-mapped device memory).
static BASE: AtomicU64 = AtomicU64::new(0);
/// Serializes whole messages so lines from different cores never interleave.
static LOCK: Mutex<()> = Mutex::new(());

/// Sets (or moves) the console to the PL011 at `base`.
pub fn init(base: u64) {
    BASE.store(base, Ordering::Release);
}

struct Pl011;

impl Pl011 {
    fn put(&self, byte: u8) {
        let base = BASE.load(Ordering::Acquire);
        if base == 0 {
            return;
        }
        // SAFETY: `base` was set by `init` to a PL011 MMIO block that the
        // EL2 identity map covers as device memory.
        let uart = unsafe { &*(base as *const Pl011Registers) };
        while uart.fr.get() & FR_TXFF != 0 {}
        uart.dr.set(u32::from(byte));
    }
}

impl Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.put(b'\r');
            }
            self.put(byte);
        }
        Ok(())
    }
}

/// Writes formatted text to the console as one uninterrupted message.
pub fn print(args: fmt::Arguments) {
    let _guard = LOCK.lock();
    let _ = Pl011.write_fmt(args);
}

/// Writes `bytes` from a guest, one `[label] ` prefix per line; returns the count written.
pub fn write_guest_bytes(label: &str, bytes: &[u8], at_line_start: &mut bool) {
    let _guard = LOCK.lock();
    let mut uart = Pl011;
    for &byte in bytes {
        if *at_line_start {
            let _ = write!(uart, "[{label}] ");
            *at_line_start = false;
        }
        match byte {
            b'\n' => {
                let _ = uart.write_str("\n");
                *at_line_start = true;
            }
            b'\r' => {}
            // Keep control characters from reaching the terminal.
            0x20..=0x7e | b'\t' => uart.put(byte),
            _ => uart.put(b'?'),
        }
    }
}

/// `print!` to the hypervisor console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

/// `println!` to the hypervisor console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `log` backend: `bulkhead: <message>` lines, with the level for warnings and errors.
struct ConsoleLogger;

impl log::Log for ConsoleLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        match record.level() {
            log::Level::Error => print(format_args!("bulkhead: error: {}\n", record.args())),
            log::Level::Warn => print(format_args!("bulkhead: warning: {}\n", record.args())),
            _ => print(format_args!("bulkhead: {}\n", record.args())),
        }
    }

    fn flush(&self) {}
}

static LOGGER: ConsoleLogger = ConsoleLogger;

/// Installs the console as the `log` backend.
pub fn init_logger() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}
