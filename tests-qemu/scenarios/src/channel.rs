//! The channel scenarios: doorbell ping-pong, bulk transfer, read-only endpoints and outsiders.
//!
//! Guests `chan_pingpong`, `chan_bulk` and `chan_guard` print through
//! CONSOLE_WRITE, so their lines and Bulkhead's reports land on UART0 in
//! one order. Expected checksums are recomputed here with `bulkhead_workload`.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};
use bulkhead_abi::ret;
use bulkhead_workload::dma;

/// Round trips of `chan_pingpong` (mirror `chan_pingpong.rs`).
pub const PINGPONG_ROUNDS: u64 = 10_000;
/// Bytes `chan_bulk` moves each way (mirror `chan_bulk.rs`).
pub const BULK_BYTES: u64 = 16 << 20;
/// `chan_guard`'s channel size (mirror `chan_guard.dtso`).
pub const GUARD_BYTES: u64 = 64 << 10;

/// Seed of endpoint `endpoint`'s bulk stream (mirror `chan_bulk.rs`).
pub const fn bulk_seed(endpoint: u64) -> u64 {
    dma::seed(0xc4a7, endpoint)
}

/// Seed of `chan_guard`'s owner fill (mirror `chan_guard.rs`).
pub const fn guard_seed() -> u64 {
    dma::seed(0x9a7d, 0)
}

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "chan_pingpong",
            description: "10,000 doorbell round trips between two bare-metal endpoints: exactly 10,000 doorbells each side, every pong echoes its ping",
            layout: "tests-qemu/layouts/chan_pingpong.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "chan_pingpong" },
                Module { address: 0x4b00_0000, guest: "chan_pingpong" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_pingpong,
        },
        Scenario {
            name: "chan_bulk",
            description: "16 MiB each way through a 1 MiB channel in checksummed chunks: both streams arrive whole, every checksum matches the host's",
            layout: "tests-qemu/layouts/chan_bulk.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "chan_bulk" },
                Module { address: 0x4b00_0000, guest: "chan_bulk" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_bulk,
        },
        Scenario {
            name: "chan_guard",
            description: "a read-only endpoint that writes is stopped with a report and the data stays intact; a partition that is no endpoint is DENIED and cannot reach the memory",
            layout: "tests-qemu/layouts/chan_guard.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "chan_guard" },
                Module { address: 0x4b00_0000, guest: "chan_guard" },
                Module { address: 0x4c00_0000, guest: "chan_guard" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_guard,
        },
        Scenario {
            name: "chan_route",
            description: "a doorbell routed through GICD_IROUTER to the receiver's vCPU 1 reaches that vCPU only, 10,101 times; rings sent before it was enabled are latched, not lost",
            layout: "tests-qemu/layouts/chan_route.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "chan_bench" },
                Module { address: 0x4b00_0000, guest: "chan_route" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_route,
        },
    ]
}

/// Rings `chan_bench` sends the router: warm-up, timed rounds, the final one (mirror `chan_bench.rs`).
pub const ROUTE_RINGS: u64 = 100 + 10_000 + 1;

fn check_route(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let router = guest_lines(outcome, "router");
    let (_, line) = find("router", &router, "chan route vcpu0=")?;
    expect_fields(
        "router",
        line,
        &[
            ("vcpu0", 0),
            ("vcpu1", ROUTE_RINGS),
            ("answered", ROUTE_RINGS - 1),
        ],
    )
}

fn check_pingpong(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    for (label, role) in [("ping", "ping"), ("pong", "pong")] {
        let lines = guest_lines(outcome, label);
        let (_, line) = find(label, &lines, "chan pingpong role=")?;
        if field(line, "role") != Some(role) {
            return Err(format!("{label}: `{line}`: expected role={role}"));
        }
        expect_fields(
            label,
            line,
            &[
                ("rounds", PINGPONG_ROUNDS),
                ("doorbells", PINGPONG_ROUNDS),
                ("mismatches", 0),
                ("notify_errors", 0),
            ],
        )?;
    }
    Ok(())
}

fn check_bulk(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let words = BULK_BYTES / 8;
    for (label, own, peer) in [("left", 0, 1), ("right", 1, 0)] {
        let lines = guest_lines(outcome, label);
        let (_, sent) = find(label, &lines, "chan bulk sent ")?;
        expect_fields(
            label,
            sent,
            &[
                ("bytes", BULK_BYTES),
                ("checksum", dma::pattern_sum(bulk_seed(own), words)),
            ],
        )?;
        let (_, received) = find(label, &lines, "chan bulk received ")?;
        expect_fields(
            label,
            received,
            &[
                ("bytes", BULK_BYTES),
                ("checksum", dma::pattern_sum(bulk_seed(peer), words)),
                ("bad_chunks", 0),
                ("bad_words", 0),
            ],
        )?;
        find(label, &lines, "chan bulk done")?;
    }
    Ok(())
}

fn check_guard(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    expect_no_guest_errors(outcome)?;
    let fill = dma::pattern_sum(guard_seed(), GUARD_BYTES / 8);
    let owner = guest_lines(outcome, "owner");
    let (_, line) = find("owner", &owner, "chan guard owner ")?;
    expect_fields("owner", line, &[("before", fill), ("after", fill)])?;
    expect_signed(
        "owner",
        line,
        &[
            ("ring_self", ret::INVALID_PARAMETERS),
            ("ring_missing", ret::INVALID_PARAMETERS),
        ],
    )?;
    let reader = guest_lines(outcome, "reader");
    let (_, line) = find("reader", &reader, "chan guard reader read_only=")?;
    expect_fields("reader", line, &[("read_only", 1), ("checksum", fill)])?;
    let (_, line) = find("reader", &reader, "chan guard reader notify=")?;
    expect_signed("reader", line, &[("notify", ret::SUCCESS)])?;
    if find("reader", &reader, "chan guard reader wrote").is_ok() {
        return Err("reader: its write to a read-only channel went through".into());
    }
    let outsider = guest_lines(outcome, "outsider");
    let (_, line) = find("outsider", &outsider, "chan guard outsider info=")?;
    expect_signed(
        "outsider",
        line,
        &[
            ("info", ret::DENIED),
            ("notify", ret::DENIED),
            ("notify_all", ret::DENIED),
            ("info_missing", ret::INVALID_PARAMETERS),
        ],
    )?;
    if find("outsider", &outsider, "chan guard outsider read").is_ok() {
        return Err("outsider: read the channel memory".into());
    }
    let reports = stop_reports(&outcome.uart[0]);
    for (label, id) in [("reader", 1), ("outsider", 2)] {
        let report = reports
            .iter()
            .find(|report| report.label == label)
            .ok_or(format!("no stop report for {label}"))?;
        if report.id != id || report.ipa != Some(0x8000_0000 + if id == 1 { 64 } else { 0 }) {
            return Err(format!(
                "{label}: unexpected stop report: {}",
                report.reason
            ));
        }
    }
    if reports.iter().any(|report| report.label == "owner") {
        return Err("the owner was stopped".into());
    }
    Ok(())
}

/// Checks signed `key=value` words (SMCCC results).
fn expect_signed(what: &str, line: &str, expected: &[(&str, i64)]) -> Result<(), String> {
    for (key, want) in expected {
        if field(line, key).and_then(number) != Some(i128::from(*want)) {
            return Err(format!("{what}: `{line}`: expected {key}={want}"));
        }
    }
    Ok(())
}
