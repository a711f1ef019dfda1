//! Channel benchmarks: the doorbell round trip (bare-metal and from Linux userspace) and the channel memory's bandwidth.

use super::{line_instructions, marked_line, Benchmark, Measurement, Module, Outcome};
use crate::scenarios::parse::{field_u64, ticks_to_instructions};

/// Round trips `chan_bench` times (mirror `chan_bench.rs`).
pub const BENCH_ROUNDS: u64 = 10_000;
/// Round trips of `chan_pingpong` (its guest takes each doorbell through its IRQ vector).
pub const PINGPONG_ROUNDS: u64 = 10_000;

const BENCH_MODULES: &[Module] = &[
    Module {
        address: 0x4a00_0000,
        guest: "chan_bench",
    },
    Module {
        address: 0x4b00_0000,
        guest: "chan_bench",
    },
];

const PINGPONG_MODULES: &[Module] = &[
    Module {
        address: 0x4a00_0000,
        guest: "chan_pingpong",
    },
    Module {
        address: 0x4b00_0000,
        guest: "chan_pingpong",
    },
];

pub fn benchmarks() -> Vec<Benchmark> {
    vec![
        Benchmark {
            name: "channel_doorbell_roundtrip",
            layout: "tests-qemu/layouts/chan_bench.dtso",
            modules: BENCH_MODULES,
            timeout_secs: 60,
            bare: None,
            parse: |outcome, _| parse_bench(outcome),
        },
        Benchmark {
            name: "channel_doorbell_roundtrip_vector",
            layout: "tests-qemu/layouts/chan_pingpong.dtso",
            modules: PINGPONG_MODULES,
            timeout_secs: 60,
            bare: None,
            parse: |outcome, _| parse_pingpong(outcome),
        },
        Benchmark {
            name: "channel_doorbell_roundtrip_linux",
            layout: "tests-qemu/layouts/linux_channel.dtso",
            modules: crate::scenarios::linux_channels::PARTNER_MODULES,
            timeout_secs: 180,
            bare: None,
            parse: |outcome, _| parse_linux_ping(outcome),
        },
    ]
}

/// `channel_doorbell_roundtrip` and `channel_bandwidth` from `chan_bench`.
fn parse_bench(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let line = marked_line("chan_bench", outcome, "chan bench roundtrips=")?;
    let rounds = value(line, "roundtrips")?;
    let ticks = value(line, "ticks")?;
    let frequency = value(line, "cntfrq")?;
    let copy = marked_line("chan_bench", outcome, "chan bench copy ")?;
    let bytes = value(copy, "bytes")?;
    let memcpy = value(copy, "memcpy_ticks")?;
    let channel = value(copy, "channel_ticks")?;
    if rounds != BENCH_ROUNDS || channel == 0 {
        return Err(format!("chan_bench: unexpected `{line}` / `{copy}`"));
    }
    Ok(vec![
        Measurement {
            name: "channel_doorbell_roundtrip".into(),
            value: ticks_to_instructions(ticks, frequency)? / rounds as f64,
            unit: "instructions",
        },
        Measurement {
            name: "channel_bandwidth".into(),
            value: memcpy as f64 / channel as f64,
            unit: "ratio",
        },
        Measurement {
            name: "channel_copy_bytes_per_instruction".into(),
            value: bytes as f64 / ticks_to_instructions(channel, frequency)?,
            unit: "bytes/instruction",
        },
    ])
}

/// The same round trip with each doorbell taken through the guest's IRQ vector (`chan_pingpong`).
fn parse_pingpong(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let line = marked_line("chan_pingpong", outcome, "chan pingpong role=ping ")?;
    Ok(vec![Measurement {
        name: "channel_doorbell_roundtrip_vector".into(),
        value: line_instructions("chan_pingpong", line, "ticks")? / PINGPONG_ROUNDS as f64,
        unit: "instructions",
    }])
}

/// `bulkhead ping` from Linux userspace (uio) to the bare-metal partner.
fn parse_linux_ping(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let line = marked_line("linux", outcome, "ping avg_ticks=")?;
    Ok(vec![Measurement {
        name: "channel_doorbell_roundtrip_linux".into(),
        value: line_instructions("linux", line, "avg_ticks")?,
        unit: "instructions",
    }])
}

fn value(line: &str, key: &str) -> Result<u64, String> {
    field_u64(line, key).ok_or(format!("no {key}= in `{line}`"))
}
