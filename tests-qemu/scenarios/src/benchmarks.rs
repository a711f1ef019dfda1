//! The QEMU benchmarks (always under icount): figures parsed from guest output.

use crate::scenarios::parse::{
    boot_report, field_u64, labelled_lines, own_lines, ticks_to_instructions,
};
use crate::{Benchmark, Measurement, Module, Outcome};

/// NULL hypercalls the `bench` guest times (mirrors `bench.rs`).
pub const HVC_NULL_CALLS: u64 = 10_000;

pub fn benchmarks() -> Vec<Benchmark> {
    vec![Benchmark {
        name: "hypercall_and_boot",
        layout: "tests-qemu/layouts/bench.dtso",
        modules: &[
            Module {
                address: 0x4a00_0000,
                guest: "bench",
            },
            Module {
                address: 0x4b00_0000,
                guest: "idle",
            },
        ],
        timeout_secs: 60,
        parse: parse_bench,
    }]
}

fn parse_bench(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    let bench: Vec<&str> = own_lines(&outcome.uart[1]).collect();
    let line = bench
        .iter()
        .find(|line| line.starts_with("bench hvc_null "))
        .ok_or("bench: no `bench hvc_null` line on uart1")?;
    let (Some(calls), Some(ticks), Some(frequency)) = (
        field_u64(line, "calls"),
        field_u64(line, "ticks"),
        field_u64(line, "cntfrq"),
    ) else {
        return Err(format!("bench: bad line: {line}"));
    };
    if calls != HVC_NULL_CALLS {
        return Err(format!("bench: {line}: expected calls={HVC_NULL_CALLS}"));
    }
    let per_call = ticks_to_instructions(ticks, frequency)? / calls as f64;

    // Boot: the later of the two partitions' first instructions.
    let bench_boot = boot_report(bench.iter().copied()).map_err(|e| format!("bench: {e}"))?;
    let idle_boot = boot_report(labelled_lines(&outcome.uart[0], "idle").map(|(_, text)| text))
        .map_err(|e| format!("idle (uart0): {e}"))?;
    let latest = [bench_boot, idle_boot]
        .iter()
        .map(|boot| ticks_to_instructions(boot.first_instruction_ticks, boot.frequency))
        .collect::<Result<Vec<f64>, String>>()?
        .into_iter()
        .fold(0.0, f64::max);
    Ok(vec![
        Measurement {
            name: "hvc_null_roundtrip".into(),
            value: per_call,
            unit: "instructions",
        },
        Measurement {
            name: "boot_to_first_guest".into(),
            value: latest,
            unit: "instructions",
        },
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(uart0: &str, uart1: &str) -> Outcome {
        Outcome {
            uart: [uart0.into(), uart1.into()],
            exit_code: Some(0),
            ..Outcome::default()
        }
    }

    const UART1: &str = "boot first_instruction_ticks=62500 cntfrq=62500000\n\
        partition id=0 vcpus=1 memory=16777216\n\
        dt cpus=1 memory=16777216\n\
        bench hvc_null calls=10000 ticks=12500 cntfrq=62500000\n";

    #[test]
    fn parses_both_figures() {
        let uart0 = "bulkhead: starting\n\
            [idle] boot first_instruction_ticks=125000 cntfrq=62500000\n\
            [idle] partition id=1 vcpus=1 memory=16777216\n";
        let got = parse_bench(&outcome(uart0, UART1)).unwrap();
        assert_eq!(got[0].name, "hvc_null_roundtrip");
        assert!((got[0].value - 20.0).abs() < 1e-9, "{got:?}");
        assert_eq!(got[1].name, "boot_to_first_guest");
        assert!((got[1].value - 2_000_000.0).abs() < 1e-6, "{got:?}");
    }

    #[test]
    fn refuses_missing_or_bad_lines() {
        assert!(parse_bench(&outcome("", UART1)).is_err());
        assert!(parse_bench(&outcome(
            "[idle] boot first_instruction_ticks=1 cntfrq=62500000",
            ""
        ))
        .is_err());
        let wrong_calls = UART1.replace("calls=10000", "calls=10");
        assert!(parse_bench(&outcome(
            "[idle] boot first_instruction_ticks=1 cntfrq=62500000",
            &wrong_calls
        ))
        .is_err());
        let zero_frequency = UART1.replace("ticks=12500 cntfrq=62500000", "ticks=12500 cntfrq=0");
        assert!(parse_bench(&outcome(
            "[idle] boot first_instruction_ticks=1 cntfrq=62500000",
            &zero_frequency
        ))
        .is_err());
    }
}
