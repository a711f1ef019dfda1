//! Guest `console_echo`: reads what Bulkhead's console input sends to its virtual PL011, one line at a time.
//!
//! Lines: `echo ready uart=<base>`, then `echo got=<line>` per received line
//! (polling RX: the RX interrupt is Linux's part of the test); it switches
//! its partition off after the line `bye` or after `timeout_ms=` (bootargs,
//! default 120 s).
#![no_std]
#![no_main]

use bulkhead_guests::pl011::Pl011;
use bulkhead_guests::{dt, guest_main, mark, psci, timer, BootInfo};

const DEFAULT_TIMEOUT_MS: u64 = 120_000;
const LINE_MAX: usize = 128;

fn main(boot: &BootInfo) -> ! {
    let Some(base) = boot.dt.and_then(|dt| dt.stdout_uart) else {
        mark!("echo error=no stdout uart");
        psci::system_off()
    };
    let timeout_ms = dt::bootarg_u64(boot.dtb, "timeout_ms").unwrap_or(DEFAULT_TIMEOUT_MS);
    let uart = Pl011 { base };
    mark!("echo ready uart={base:#x}");
    let start = timer::now();
    let mut line = [0u8; LINE_MAX];
    let mut len = 0;
    while timer::elapsed_ms(start) < timeout_ms {
        let Some(byte) = uart.read_byte() else {
            core::hint::spin_loop();
            continue;
        };
        if byte == b'\n' || byte == b'\r' {
            let text = core::str::from_utf8(&line[..len]).unwrap_or("?");
            mark!("echo got={text}");
            if text == "bye" {
                psci::system_off()
            }
            len = 0;
        } else if len < LINE_MAX {
            line[len] = byte;
            len += 1;
        }
    }
    mark!("echo timeout");
    psci::system_off()
}

guest_main!(main);
