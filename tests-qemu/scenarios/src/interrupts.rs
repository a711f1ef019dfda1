//! The interrupt scenarios: virtual timer rates, SGIs inside and across partitions, SPI ownership.
//!
//! Guests `irq_timer`, `irq_sgi`, `irq_listener`, `irq_intruder` and
//! `irq_owner` print through CONSOLE_WRITE, so every line lands on UART0 as
//! `[label] ...` in one order the checks rely on.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};

/// Virtual timer rate of vCPU n of `irq_timer` in Hz, and its span (mirror `irq_timer.rs`).
pub const TIMER_RATES: [u64; 2] = [1000, 500];
pub const TIMER_SPAN_MS: u64 = 500;
/// Times `irq_timer`'s handler leaves its deadline passed (mirrors `REFIRES`).
pub const TIMER_REFIRES: u64 = 20;
/// SGIs per phase of `irq_sgi` (mirrors `irq_sgi.rs`).
pub const SGI_ROUNDS: u64 = 100;
/// Times `irq_sgi` resends an SGI from its own handler (mirrors `RESENDS`).
pub const SGI_RESENDS: u64 = 20;
/// What `irq_owner` loops back through its UART (mirrors `irq_owner.rs`).
pub const UART_PAYLOAD: &str = "rx-probe\n";

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "irq_timer",
            description: "two partitions' vCPUs each take their virtual timer's interrupts at a programmed rate (1 kHz, 500 Hz); an interrupt still asserted when the guest ends it is taken again, 21 of 21 times",
            layout: "tests-qemu/layouts/irq_timer.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "irq_timer" },
                Module { address: 0x4b00_0000, guest: "irq_timer" },
            ],
            timeout_secs: 40,
            icount: false,
            check: check_timer,
        },
        Scenario {
            name: "irq_sgi",
            description: "SGIs between a partition's own vCPUs (target list, broadcast) arrive exactly; SGIs to cores it lacks go nowhere",
            layout: "tests-qemu/layouts/irq_sgi.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "irq_sgi" }],
            timeout_secs: 40,
            icount: false,
            check: check_sgi,
        },
        Scenario {
            name: "irq_sgi_isolation",
            description: "SGIs a partition aims at other cores (target list, other cluster, broadcast) never reach the partition on them",
            layout: "tests-qemu/layouts/irq_sgi_isolation.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "irq_sgi" },
                Module { address: 0x4b00_0000, guest: "irq_listener" },
            ],
            timeout_secs: 40,
            icount: false,
            check: check_sgi_isolation,
        },
        Scenario {
            name: "irq_spi_ownership",
            description: "enabling, pending, routing or disabling another partition's SPI has no effect; a UART receive interrupt reaches only the UART's owner",
            layout: "tests-qemu/layouts/irq_spi.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "irq_intruder" },
                Module { address: 0x4b00_0000, guest: "irq_owner" },
            ],
            timeout_secs: 40,
            icount: false,
            check: check_spi_ownership,
        },
    ]
}

fn check_timer(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    for label in ["timer-a", "timer-b"] {
        let lines = guest_lines(outcome, label);
        for (vcpu, rate) in TIMER_RATES.iter().enumerate() {
            let prefix = format!("timer vcpu={vcpu} ");
            let (_, line) = find(label, &lines, &prefix)?;
            let expected = rate * TIMER_SPAN_MS / 1000;
            // Every deadline in the span taken once, none before its time.
            expect_fields(
                label,
                line,
                &[
                    ("interrupts", expected),
                    ("expected", expected),
                    ("early", 0),
                    ("other", 0),
                ],
            )?;
            // A level interrupt still asserted at its EOI is taken again, every time.
            let (_, refire) = find(label, &lines, &format!("timer refire vcpu={vcpu} "))?;
            expect_fields(
                label,
                refire,
                &[
                    ("taken", TIMER_REFIRES + 1),
                    ("expected", TIMER_REFIRES + 1),
                ],
            )?;
        }
        let (_, done) = find(label, &lines, "timer done")?;
        expect_fields(label, done, &[("vcpus", 2)])?;
    }
    Ok(())
}

/// The `irq_sgi` figures of partition `label`; returns the line indices of
/// its `sgi attack start` and `sgi attack done` lines.
fn expect_sgi_sender(outcome: &Outcome, label: &'static str) -> Result<(usize, usize), String> {
    let lines = guest_lines(outcome, label);
    let rounds = SGI_ROUNDS;
    let (start, _) = find(label, &lines, "sgi attack start")?;
    let (_, pingpong) = find(label, &lines, "sgi pingpong ")?;
    expect_fields(
        label,
        pingpong,
        &[("sent", rounds), ("received", rounds), ("replies", rounds)],
    )?;
    let (_, broadcast) = find(label, &lines, "sgi broadcast ")?;
    expect_fields(
        label,
        broadcast,
        &[("sent", rounds), ("vcpu0", 0), ("vcpu1", rounds)],
    )?;
    let (_, foreign) = find(label, &lines, "sgi foreign ")?;
    expect_fields(
        label,
        foreign,
        &[("sent", 2 * rounds), ("vcpu0", 0), ("vcpu1", 0)],
    )?;
    let (done, _) = find(label, &lines, "sgi attack done")?;
    // Nothing else arrived: vCPU 0 got only the replies, vCPU 1 the pings
    // and the broadcasts.
    let (_, totals) = find(label, &lines, "sgi totals ")?;
    expect_fields(label, totals, &[("vcpu0", rounds), ("vcpu1", 2 * rounds)])?;
    // An SGI sent again while active is taken once more, never twice.
    let (_, resend) = find(label, &lines, "sgi resend ")?;
    expect_fields(
        label,
        resend,
        &[("sent", SGI_RESENDS + 1), ("received", SGI_RESENDS + 1)],
    )?;
    let (_, merge) = find(label, &lines, "sgi merge ")?;
    // GICv2: every ping and broadcast came from vCPU 0, every pong from vCPU 1.
    let (_, sources) = find(label, &lines, "sgi sources ")?;
    match field(sources, "gic") {
        // No source: the two senders' SGIs merge into one.
        Some("v3") => expect_fields(label, merge, &[("received", 2), ("sources", 0)])?,
        // Pending per source: the first, vCPU 0's again and vCPU 1's.
        Some("v2") => expect_fields(label, merge, &[("received", 3), ("sources", 0b11)])?,
        _ => return Err(format!("{label}: `{sources}`: no gic=v2|v3")),
    }
    match field(sources, "gic") {
        Some("v3") => {}
        Some("v2") => expect_fields(
            label,
            sources,
            &[
                ("ping", 0b01),
                ("pong", 0b10),
                ("broadcast", 0b01),
                ("spending", 0b100),
                ("spending_count", 1),
            ],
        )?,
        _ => return Err(format!("{label}: `{sources}`: no gic=v2|v3")),
    }
    Ok((start, done))
}

fn check_sgi(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    expect_sgi_sender(outcome, "pinger").map(|_| ())
}

pub(crate) fn check_sgi_isolation(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let (start, done) = expect_sgi_sender(outcome, "sender")?;
    let listener = guest_lines(outcome, "listener");
    let (ready, line) = find("listener", &listener, "listener ready")?;
    expect_fields("listener", line, &[("vcpus", 2)])?;
    if ready > start {
        return Err("listener: ready only after the sender's attack started".into());
    }
    for vcpu in 0..2 {
        let (report, line) = find("listener", &listener, &format!("listener vcpu={vcpu} "))?;
        if report < done {
            return Err(format!(
                "listener: `{line}` printed before the sender's attack was done"
            ));
        }
        expect_fields("listener", line, &[("sgis", 0), ("total", 0)])?;
    }
    Ok(())
}

/// What `irq_intruder` must read back.
const INTRUDER_RESULTS: [(&str, i64); 10] = [
    ("own_enable", 1),
    ("own_priority", 0xa0),
    ("foreign_group", 0),
    ("foreign_priority", 0),
    ("foreign_config", 0),
    ("foreign_route", 0),
    ("foreign_enable", 0),
    ("foreign_pending", 0),
    ("foreign_active", 0),
    ("received", 0),
];

fn check_spi_ownership(outcome: &Outcome) -> Result<(), String> {
    let owner = expect_spi_ownership(outcome, 40)?;
    let bytes = UART_PAYLOAD.len() as u64;
    let (_, line) = find("owner", &owner, "uart rx ")?;
    expect_fields(
        "owner",
        line,
        &[("interrupts", bytes), ("count", bytes), ("total", bytes)],
    )?;
    let text = UART_PAYLOAD.trim_end();
    if field(line, "bytes") != Some(text) {
        return Err(format!("owner: `{line}`: expected bytes={text}"));
    }
    Ok(())
}

/// `irq_spi_ownership` on a board where the owner has a BCM2835 mini UART
/// (the Raspberry Pi's UART1, INTID 125): QEMU's has no loopback and nothing
/// feeds its receiver, so its own device interrupt is the transmit one, one
/// per payload byte, and the payload must come out of that UART (UART log 1).
pub(crate) fn check_spi_ownership_mini_uart(outcome: &Outcome) -> Result<(), String> {
    let owner = expect_spi_ownership(outcome, 125)?;
    let bytes = UART_PAYLOAD.len() as u64;
    let (_, line) = find("owner", &owner, "uart tx ")?;
    expect_fields(
        "owner",
        line,
        &[
            ("interrupts", bytes),
            ("count", bytes),
            ("handled", bytes),
            ("total", bytes),
        ],
    )?;
    let text = UART_PAYLOAD.trim_end();
    if !lines(&outcome.uart[1]).any(|line| line == text) {
        return Err(format!(
            "owner: no `{text}` line out of its mini UART (uart1: {:?})",
            outcome.uart[1]
        ));
    }
    Ok(())
}

/// The intruder's readbacks and the owner's silence while attacked, its SPI
/// being `owner_intid`; returns the owner's lines.
fn expect_spi_ownership(outcome: &Outcome, owner_intid: u64) -> Result<Vec<(usize, &str)>, String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let intruder = guest_lines(outcome, "intruder");
    let (start, _) = find("intruder", &intruder, "spi attack start")?;
    let (done, _) = find("intruder", &intruder, "spi attack done")?;
    let seen = results(intruder.iter().map(|(_, text)| *text));
    expect_results("intruder", &seen, &INTRUDER_RESULTS)?;

    let (_, start_line) = find("intruder", &intruder, "spi attack start")?;
    expect_fields("intruder", start_line, &[("foreign", owner_intid)])?;
    let owner = guest_lines(outcome, "owner");
    let (ready, line) = find("owner", &owner, "spi owner ready")?;
    expect_fields("owner", line, &[("intid", owner_intid)])?;
    if ready > start {
        return Err("owner: ready only after the intruder's attack started".into());
    }
    let (report, line) = find("owner", &owner, "spi owner spurious=")?;
    if report < done {
        return Err(format!(
            "owner: `{line}` printed before the intruder's attack was done"
        ));
    }
    expect_fields("owner", line, &[("spurious", 0), ("total", 0)])?;
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(uart0: &str) -> Outcome {
        Outcome {
            uart: [uart0.to_string(), String::new()],
            exit_code: Some(0),
            timed_out: false,
            check_errors: Vec::new(),
        }
    }

    fn prefixed(label: &str, text: &str) -> String {
        text.lines()
            .map(|line| format!("[{label}] {line}\n"))
            .collect()
    }

    fn boot() -> &'static str {
        "boot first_instruction_ticks=1234 cntfrq=62500000\n\
         partition id=0 vcpus=2 memory=16777216\n\
         dt cpus=2 memory=16777216\n"
    }

    fn timer(a: u64, b: u64, early: u64, refired: u64) -> String {
        format!(
            "{}gic distributor ctlr=0x13\n\
             timer vcpu=1 interrupts={b} expected=250 early=0 other=0 period_ticks=125000 rate_hz=500\n\
             timer refire vcpu=1 taken=21 expected=21\n\
             timer vcpu=0 interrupts={a} expected=500 early={early} other=0 period_ticks=62500 rate_hz=1000\n\
             timer refire vcpu=0 taken={refired} expected=21\n\
             timer done vcpus=2\n",
            boot()
        )
    }

    #[test]
    fn timer_counts_exactly() {
        let good = |label| prefixed(label, &timer(500, 250, 0, 21));
        assert_eq!(
            check_timer(&outcome(&(good("timer-a") + &good("timer-b")))),
            Ok(())
        );
        for bad in [
            timer(499, 250, 0, 21),
            timer(500, 251, 0, 21),
            timer(500, 250, 1, 21),
            timer(500, 250, 0, 8),
            timer(0, 0, 0, 0),
        ] {
            let text = good("timer-a") + &prefixed("timer-b", &bad);
            assert!(check_timer(&outcome(&text)).is_err(), "{bad}");
        }
        assert!(check_timer(&outcome(&good("timer-a"))).is_err());
    }

    fn sender(broadcast_vcpu0: u64, foreign_vcpu0: u64) -> String {
        format!(
            "{}sgi attack start\n\
             sgi pingpong sent=100 received=100 replies=100\n\
             sgi broadcast sent=100 vcpu0={broadcast_vcpu0} vcpu1=100\n\
             sgi foreign sent=200 vcpu0={foreign_vcpu0} vcpu1=0\n\
             sgi attack done\n\
             sgi totals vcpu0={} vcpu1=200\n\
             sgi resend sent=21 received=21\n\
             sgi merge received=2 sources=0x0\n\
             sgi sources gic=v3\n",
            boot(),
            100 + broadcast_vcpu0 + foreign_vcpu0
        )
    }

    #[test]
    fn sgi_counts_are_exact() {
        assert_eq!(
            check_sgi(&outcome(&prefixed("pinger", &sender(0, 0)))),
            Ok(())
        );
        assert!(check_sgi(&outcome(&prefixed("pinger", &sender(1, 0)))).is_err());
        assert!(check_sgi(&outcome(&prefixed("pinger", &sender(0, 3)))).is_err());
        // GICv2: the sources must be the senders' vCPUs.
        let v2 = |line: &str| {
            sender(0, 0)
                .replace("sgi sources gic=v3", line)
                .replace("received=2 sources=0x0", "received=3 sources=0x3")
        };
        let good =
            "sgi sources gic=v2 ping=0x1 pong=0x2 broadcast=0x1 spending=0x4 spending_count=1";
        assert_eq!(check_sgi(&outcome(&prefixed("pinger", &v2(good)))), Ok(()));
        for bad in [
            "sgi sources gic=v2 ping=0x1 pong=0x1 broadcast=0x1 spending=0x4 spending_count=1",
            "sgi sources gic=v2 ping=0x3 pong=0x2 broadcast=0x1 spending=0x4 spending_count=1",
            "sgi sources gic=v2 ping=0x1 pong=0x2 broadcast=0x1 spending=0x1 spending_count=1",
            "sgi sources gic=v2 ping=0x1 pong=0x2 broadcast=0x1 spending=0x4 spending_count=2",
            "sgi sources gic=v2",
            "sgi sources",
        ] {
            assert!(
                check_sgi(&outcome(&prefixed("pinger", &v2(bad)))).is_err(),
                "{bad}"
            );
        }
        // An SGI taken twice, or two senders' GICv3 SGIs not merged.
        for (once, twice) in [
            ("resend sent=21 received=21", "resend sent=21 received=22"),
            ("merge received=2", "merge received=3"),
        ] {
            let doubled = sender(0, 0).replace(once, twice);
            assert!(
                check_sgi(&outcome(&prefixed("pinger", &doubled))).is_err(),
                "{twice}"
            );
        }
        let short = sender(0, 0).replace("received=100", "received=99");
        assert!(check_sgi(&outcome(&prefixed("pinger", &short))).is_err());
        let mut failed = outcome(&prefixed("pinger", &sender(0, 0)));
        failed.timed_out = true;
        failed.exit_code = None;
        assert!(check_sgi(&failed).is_err());
    }

    fn isolation(listener_sgis: u64, ready_first: bool) -> String {
        let ready = prefixed("listener", &format!("{}listener ready vcpus=2\n", boot()));
        let report = prefixed(
            "listener",
            &format!(
                "listener vcpu=0 sgis={listener_sgis} total={listener_sgis}\n\
                 listener vcpu=1 sgis=0 total=0\nlistener done\n"
            ),
        );
        let sender = prefixed("sender", &sender(0, 0));
        if ready_first {
            ready + &sender + &report
        } else {
            sender + &ready + &report
        }
    }

    #[test]
    fn sgi_isolation_needs_silence_while_listening() {
        assert_eq!(check_sgi_isolation(&outcome(&isolation(0, true))), Ok(()));
        assert!(check_sgi_isolation(&outcome(&isolation(2, true))).is_err());
        assert!(check_sgi_isolation(&outcome(&isolation(0, false))).is_err());
    }

    fn spi(foreign_enable: u64, spurious: u64, rx: u64) -> String {
        let owner_ready = prefixed(
            "owner",
            &format!("{}spi owner ready uart=0x9040000 intid=40\n", boot()),
        );
        let intruder = prefixed(
            "intruder",
            &format!(
                "{}spi attack start own=33 foreign=40\n\
                 result own_enable=1\nresult own_priority=160\n\
                 result foreign_group=0x0\nresult foreign_priority=0x0\n\
                 result foreign_config=0x0\nresult foreign_route=0x0\n\
                 result foreign_enable={foreign_enable:#x}\nresult foreign_pending=0x0\n\
                 result foreign_active=0x0\nresult received=0\nspi attack done\n",
                boot()
            ),
        );
        let owner_report = prefixed(
            "owner",
            &format!(
                "spi owner spurious={spurious} total={spurious}\n\
                 uart rx interrupts={rx} count=9 bytes=rx-probe total={}\n",
                rx + spurious
            ),
        );
        format!("{owner_ready}bulkhead: some log line\n{intruder}{owner_report}")
    }

    #[test]
    fn spi_ownership_reads_zero_and_no_spurious() {
        assert_eq!(check_spi_ownership(&outcome(&spi(0, 0, 9))), Ok(()));
        assert!(check_spi_ownership(&outcome(&spi(1, 0, 9))).is_err());
        assert!(check_spi_ownership(&outcome(&spi(0, 1, 9))).is_err());
        assert!(check_spi_ownership(&outcome(&spi(0, 0, 8))).is_err());
        let wrong = spi(0, 0, 9).replace("bytes=rx-probe", "bytes=rx-prob");
        assert!(check_spi_ownership(&outcome(&wrong)).is_err());
    }

    /// The rpi4 twin's output: the owner's mini UART (INTID 125) and its
    /// transmit interrupts, the payload on UART log 1.
    fn spi_mini_uart(tx: u64, uart1: &str) -> Outcome {
        let text = spi(0, 0, 9)
            .replace("uart=0x9040000 intid=40", "uart=0xfe215040 intid=125")
            .replace("foreign=40", "foreign=125")
            .replace(
                "uart rx interrupts=9 count=9 bytes=rx-probe total=9",
                &format!("uart tx interrupts={tx} count=9 handled={tx} total={tx}"),
            );
        let mut outcome = outcome(&text);
        outcome.uart[1] = uart1.to_string();
        outcome
    }

    #[test]
    fn spi_ownership_on_a_mini_uart_counts_its_transmit_interrupts() {
        let good = spi_mini_uart(9, "boot first_instruction_ticks=1\nrx-probe\n");
        assert_eq!(check_spi_ownership_mini_uart(&good), Ok(()));
        // The virt check wants INTID 40 and receive interrupts.
        assert!(check_spi_ownership(&good).is_err());
        assert!(check_spi_ownership_mini_uart(&outcome(&spi(0, 0, 9))).is_err());
        let short = spi_mini_uart(8, "rx-probe\n");
        assert!(check_spi_ownership_mini_uart(&short).is_err());
        let silent = spi_mini_uart(9, "");
        assert!(check_spi_ownership_mini_uart(&silent).is_err());
    }
}
