//! Guest `console_flood`: prints 64-byte lines as fast as it can, through its virtual PL011 or CONSOLE_WRITE.
//!
//! Bootargs: `uart=1` writes each byte to the virtual PL011's DR (polling
//! FR.TXFF, as a driver does), else one CONSOLE_WRITE per line; `ms=` how
//! long to flood (default 3000); `lines=` stop after that many instead
//! (timed: the benchmark). Lines: `flood start sink=<uart|hypercall>`, the
//! flood lines `flood seq=<6 digits> <pad> end=<same 6 digits>` (64 bytes
//! with the newline), then after a pause `flood done lines=<n>
//! ticks=<counter ticks> cntfrq=<Hz>` through CONSOLE_WRITE.
//!
//! `bench=<n>` measures instead: n lines through the virtual PL011, then n
//! through CONSOLE_WRITE, each reported as `flood cost sink=<uart|hypercall>
//! lines=<n> ticks=<t> cntfrq=<Hz>` (benchmark console_write_cost).
#![no_std]
#![no_main]

use bulkhead_guests::gic::{read32, write32};
use bulkhead_guests::{dt, guest_main, hypercall, mark, psci, timer, BootInfo};

/// Bytes of one flood line, the newline included.
pub const LINE_BYTES: usize = 64;
const DEFAULT_MS: u64 = 3000;
/// Pause before the summary, so the summary finds room in the ring.
const SETTLE_MS: u64 = 300;
const DR: u64 = 0x00;
const FR: u64 = 0x18;
const FR_TXFF: u32 = 1 << 5;

fn line(seq: u64) -> [u8; LINE_BYTES] {
    let mut out = [b'.'; LINE_BYTES];
    let mut digits = [b'0'; 6];
    let mut rest = seq % 1_000_000;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out[..10].copy_from_slice(b"flood seq=");
    out[10..16].copy_from_slice(&digits);
    out[16] = b' ';
    let tail = LINE_BYTES - 12;
    out[tail..tail + 5].copy_from_slice(b" end=");
    out[tail + 5..tail + 11].copy_from_slice(&digits);
    out[LINE_BYTES - 1] = b'\n';
    out
}

fn uart_write(base: u64, bytes: &[u8]) {
    for &byte in bytes {
        while read32(base + FR) & FR_TXFF != 0 {
            core::hint::spin_loop();
        }
        write32(base + DR, u32::from(byte));
    }
}

/// Writes `lines` flood lines to `sink` (a PL011 base, or CONSOLE_WRITE).
fn flood(sink: Option<u64>, lines: u64, first: u64) {
    for seq in first..first + lines {
        let text = line(seq);
        match sink {
            Some(base) => uart_write(base, &text),
            None => {
                hypercall::console_write(&text);
            }
        }
    }
}

/// `bench=`: the cost of `lines` lines through each sink, one after the other.
fn bench(uart: Option<u64>, lines: u64) -> ! {
    let mut first = 1;
    for (name, sink) in [("uart", uart), ("hypercall", None)] {
        if name == "uart" && sink.is_none() {
            mark!("flood error=no stdout uart");
            continue;
        }
        // Let the previous lines leave so each run starts from an empty ring.
        timer::delay_ms(SETTLE_MS);
        let start = timer::now();
        flood(sink, lines, first);
        let ticks = timer::now() - start;
        first += lines;
        timer::delay_ms(SETTLE_MS);
        mark!(
            "flood cost sink={name} lines={lines} ticks={ticks} cntfrq={}",
            timer::frequency()
        );
    }
    psci::system_off()
}

fn main(boot: &BootInfo) -> ! {
    if let Some(lines) = dt::bootarg_u64(boot.dtb, "bench") {
        bench(boot.dt.and_then(|dt| dt.stdout_uart), lines)
    }
    let uart = dt::bootarg_u64(boot.dtb, "uart").unwrap_or(0) != 0;
    let base = boot.dt.and_then(|dt| dt.stdout_uart);
    let base = match (uart, base) {
        (true, Some(base)) => Some(base),
        (true, None) => {
            mark!("flood error=no stdout uart");
            psci::system_off()
        }
        (false, _) => None,
    };
    let ms = dt::bootarg_u64(boot.dtb, "ms").unwrap_or(DEFAULT_MS);
    let max_lines = dt::bootarg_u64(boot.dtb, "lines");
    mark!(
        "flood start sink={}",
        if base.is_some() { "uart" } else { "hypercall" }
    );
    let start = timer::now();
    let mut seq = 0;
    loop {
        match max_lines {
            Some(max) if seq >= max => break,
            None if timer::elapsed_ms(start) >= ms => break,
            _ => {}
        }
        seq += 1;
        let text = line(seq);
        match base {
            Some(base) => uart_write(base, &text),
            None => {
                hypercall::console_write(&text);
            }
        }
    }
    let ticks = timer::now() - start;
    timer::delay_ms(SETTLE_MS);
    mark!(
        "flood done lines={seq} ticks={ticks} cntfrq={}",
        timer::frequency()
    );
    psci::system_off()
}

guest_main!(main);
