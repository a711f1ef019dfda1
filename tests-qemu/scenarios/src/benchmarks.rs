//! The QEMU benchmarks (always under icount): figures parsed from guest output.

use crate::scenarios::parse::{
    boot_report, field_u64, labelled_lines, own_lines, ticks_to_instructions,
};
use crate::{BareBoot, Benchmark, Measurement, Module, Outcome};

#[path = "channel_benchmarks.rs"]
mod channel_benchmarks;
#[path = "checkpoint_benchmarks.rs"]
mod checkpoint_benchmarks;

/// NULL hypercalls the `bench` guest times (mirrors `bench.rs`).
pub const HVC_NULL_CALLS: u64 = 10_000;

pub fn benchmarks() -> Vec<Benchmark> {
    vec![
        Benchmark {
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
            bare: None,
            parse: |outcome, _| parse_bench(outcome),
        },
        Benchmark {
            name: "linux_boot_to_userspace",
            layout: "tests-qemu/layouts/linux_boot_bench.dtso",
            modules: crate::linux::LINUX_MODULES,
            timeout_secs: 180,
            bare: Some(BareBoot {
                kernel: "linux:kernel",
                initrd: Some("linux:initramfs"),
                // The layout's bootargs, so both kernels do the same work.
                append: Some(crate::linux::BOOTARGS),
                cpus: 1,
                memory_mib: 128,
            }),
            parse: parse_linux_boot,
        },
        Benchmark {
            name: "linux_boot_virtual_console",
            // Linux's console is its virtual PL011 (two traps a byte).
            layout: "tests-qemu/layouts/linux_1cpu_128m.dtso",
            modules: crate::linux::LINUX_MODULES,
            timeout_secs: 180,
            bare: Some(BareBoot {
                kernel: "linux:kernel",
                initrd: Some("linux:initramfs"),
                append: Some(crate::linux::BOOTARGS),
                cpus: 1,
                memory_mib: 128,
            }),
            parse: parse_linux_boot_virtual_console,
        },
        Benchmark {
            name: "console_write_cost",
            layout: "tests-qemu/layouts/console_bench.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "console_flood",
            }],
            timeout_secs: 120,
            bare: None,
            parse: parse_console_write_cost,
        },
        Benchmark {
            name: "guest_compute_slowdown",
            layout: "tests-qemu/layouts/compute_bench.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "compute",
            }],
            timeout_secs: 120,
            bare: Some(BareBoot {
                kernel: "compute",
                initrd: None,
                append: None,
                cpus: 2,
                memory_mib: 256,
            }),
            parse: parse_compute_slowdown,
        },
        Benchmark {
            name: "trap_roundtrips",
            layout: "tests-qemu/layouts/trap_bench.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "trap_bench",
            }],
            timeout_secs: 60,
            bare: Some(BareBoot {
                kernel: "trap_bench",
                initrd: None,
                append: None,
                cpus: 1,
                memory_mib: 256,
            }),
            parse: parse_trap_roundtrips,
        },
        Benchmark {
            name: "irq_inject_latency",
            layout: "tests-qemu/layouts/irq_latency.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "irq_latency",
            }],
            timeout_secs: 60,
            bare: Some(BareBoot {
                kernel: "irq_latency",
                initrd: None,
                append: None,
                cpus: 1,
                memory_mib: 256,
            }),
            parse: parse_irq_latency,
        },
        Benchmark {
            name: "timer_deadline_latency",
            // The guest arms its virtual timer 10 ms ahead (`lead_ms=10`).
            layout: "tests-qemu/layouts/timer_deadline.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "irq_latency",
            }],
            timeout_secs: 60,
            bare: Some(BareBoot {
                kernel: "irq_latency",
                initrd: None,
                append: Some("lead_ms=10"),
                cpus: 1,
                memory_mib: 256,
            }),
            parse: parse_timer_deadline_latency,
        },
        Benchmark {
            name: "ipi_roundtrip",
            layout: "tests-qemu/layouts/ipi_bench.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "ipi_bench",
            }],
            timeout_secs: 60,
            bare: Some(BareBoot {
                kernel: "ipi_bench",
                initrd: None,
                append: None,
                cpus: 2,
                memory_mib: 256,
            }),
            parse: parse_ipi_roundtrip,
        },
        Benchmark {
            name: "dma_edu_4k",
            layout: "tests-qemu/layouts/pci_edu.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "pci_edu_bench",
            }],
            timeout_secs: 120,
            bare: Some(BareBoot {
                kernel: "pci_edu_bench",
                initrd: None,
                append: None,
                cpus: 1,
                memory_mib: 256,
            }),
            parse: parse_dma_edu,
        },
        Benchmark {
            name: "virtio_blk_read",
            layout: "tests-qemu/layouts/linux_virtio_blk_bench.dtso",
            modules: crate::linux::LINUX_MODULES,
            timeout_secs: 180,
            bare: Some(BareBoot {
                kernel: "linux:kernel",
                initrd: Some("linux:initramfs"),
                append: Some(crate::linux::BOOTARGS),
                cpus: 1,
                memory_mib: 128,
            }),
            parse: parse_virtio_blk_read,
        },
        Benchmark {
            name: "smmu_fault_report",
            layout: "tests-qemu/layouts/pci_edu.dtso",
            modules: &[Module {
                address: 0x4a00_0000,
                guest: "pci_dma_fault_bench",
            }],
            timeout_secs: 60,
            bare: None,
            parse: |outcome, _| parse_smmu_fault_report(outcome),
        },
    ]
    .into_iter()
    .chain(checkpoint_benchmarks::benchmarks())
    .chain(channel_benchmarks::benchmarks())
    .chain(crate::scenarios::hostile::benchmarks())
    .collect()
}

/// The text from `marker` to the end of the first line holding it, on either
/// UART (a guest line may follow a `[label] ` prefix or other text).
fn marked_line<'o>(what: &str, outcome: &'o Outcome, marker: &str) -> Result<&'o str, String> {
    outcome
        .uart
        .iter()
        .flat_map(|text| text.lines())
        .find_map(|line| line.find(marker).map(|at| &line[at..]))
        .ok_or(format!("{what}: no `{}` line", marker.trim_end()))
}

/// Mean instructions from the virtual timer's deadline to the first
/// instruction of the guest's handler, from an `irq latency` line.
///
/// CNTVCT ticks every 16 instructions on cortex-a72, so a single sample is
/// quantized to 16; the mean over the samples is what is reported.
fn irq_latency_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = marked_line(what, outcome, "irq latency ")?;
    let (Some(ticks), Some(samples), Some(frequency)) = (
        field_u64(line, "ticks"),
        field_u64(line, "samples"),
        field_u64(line, "cntfrq"),
    ) else {
        return Err(format!("{what}: bad line: {line}"));
    };
    if samples == 0 {
        return Err(format!("{what}: no samples: {line}"));
    }
    Ok(ticks_to_instructions(ticks, frequency)? / samples as f64)
}

fn parse_irq_latency(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    latency_rows("irq_inject_latency", outcome, bare)
}

/// The same latency with the deadline 10 ms ahead (the micro-benchmark's
/// `timer_10ms`).
fn parse_timer_deadline_latency(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    latency_rows("timer_deadline_latency", outcome, bare)
}

/// `<name>_bulkhead`, `_bare` and `_added`: mean instructions from the
/// deadline to the handler, and what Bulkhead adds.
fn latency_rows(
    name: &str,
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bulkhead = irq_latency_instructions("bulkhead", outcome)?;
    let bare = irq_latency_instructions("bare", bare.ok_or("no bare run")?)?;
    Ok(vec![
        Measurement {
            name: format!("{name}_bulkhead"),
            value: bulkhead,
            unit: "instructions",
        },
        Measurement {
            name: format!("{name}_bare"),
            value: bare,
            unit: "instructions",
        },
        Measurement {
            name: format!("{name}_added"),
            value: bulkhead - bare,
            unit: "instructions",
        },
    ])
}

/// Instructions per SGI round trip (both vCPUs'), from an `ipi bench`
/// line whose counts show every ping answered.
fn ipi_round_trip_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = marked_line(what, outcome, "ipi bench ")?;
    let (Some(rounds), Some(received), Some(replies)) = (
        field_u64(line, "rounds"),
        field_u64(line, "received"),
        field_u64(line, "replies"),
    ) else {
        return Err(format!("{what}: bad line: {line}"));
    };
    // Warm-up rounds are counted too: every ping got its pong, no more.
    if rounds == 0 || received != replies || received < rounds {
        return Err(format!("{what}: pings and pongs do not match: {line}"));
    }
    Ok(line_instructions(what, line, "ticks")? / rounds as f64)
}

fn parse_ipi_roundtrip(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bulkhead = ipi_round_trip_instructions("bulkhead", outcome)?;
    let bare = ipi_round_trip_instructions("bare", bare.ok_or("no bare run")?)?;
    Ok(comparison("ipi_roundtrip", bulkhead, bare))
}

/// Instructions per 4 KiB round trip (two DMAs) from an `edu bench` line.
fn edu_round_trip_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = marked_line(what, outcome, "edu bench round_trips=")?;
    let (Some(trips), Some(ticks), Some(frequency)) = (
        field_u64(line, "round_trips"),
        field_u64(line, "ticks"),
        field_u64(line, "cntfrq"),
    ) else {
        return Err(format!("{what}: bad line: {line}"));
    };
    if trips == 0 {
        return Err(format!("{what}: no round trips: {line}"));
    }
    Ok(ticks_to_instructions(ticks, frequency)? / trips as f64)
}

/// `dma_edu_4k`: a round trip under Bulkhead (SMMU translating, INTx
/// injected) against bare QEMU (no SMMU). QEMU's edu schedules each DMA on
/// a millisecond clock (about 100 ms), so the figure is dominated by the
/// device; what Bulkhead adds shows in the ratio.
fn parse_dma_edu(outcome: &Outcome, bare: Option<&Outcome>) -> Result<Vec<Measurement>, String> {
    let bulkhead = edu_round_trip_instructions("bulkhead", outcome)?;
    let bare = edu_round_trip_instructions("bare", bare.ok_or("no bare run")?)?;
    Ok(vec![
        Measurement {
            name: "dma_edu_4k_bulkhead".into(),
            value: bulkhead,
            unit: "instructions",
        },
        Measurement {
            name: "dma_edu_4k_bare".into(),
            value: bare,
            unit: "instructions",
        },
        Measurement {
            name: "dma_edu_4k_ratio".into(),
            value: bulkhead / bare,
            unit: "ratio",
        },
    ])
}

/// `smmu_fault_report`: instructions from the faulting DMA to Bulkhead's
/// report being queued. QEMU's edu performs the DMA at the guest's start
/// rounded down to the millisecond, + 100 ms (the guest starts just after
/// a millisecond boundary).
fn parse_smmu_fault_report(outcome: &Outcome) -> Result<Vec<Measurement>, String> {
    let text = &outcome.uart[0];
    let guest = marked_line("bulkhead", outcome, "dma fault bench ")?;
    let (Some(start), Some(frequency)) = (field_u64(guest, "start"), field_u64(guest, "cntfrq"))
    else {
        return Err(format!("bad line: {guest}"));
    };
    let summary = text
        .lines()
        .find(|line| line.contains("dma faults: partition"))
        .ok_or("no `dma faults:` summary")?;
    let reported: u64 = summary
        .rsplit("at counter ")
        .next()
        .and_then(|value| value.trim().parse().ok())
        .ok_or(format!("bad summary: {summary}"))?;
    let per_ms = (frequency / 1000).max(1);
    let fault = start - start % per_ms + 100 * per_ms;
    let elapsed = ticks_to_instructions(reported.saturating_sub(fault), frequency)?;
    Ok(vec![Measurement {
        name: "smmu_fault_report".into(),
        value: elapsed,
        unit: "instructions",
    }])
}

/// Instructions from `<ticks_key>=` and `cntfrq=` of `line`.
fn line_instructions(what: &str, line: &str, ticks_key: &str) -> Result<f64, String> {
    let (Some(ticks), Some(frequency)) = (field_u64(line, ticks_key), field_u64(line, "cntfrq"))
    else {
        return Err(format!("{what}: bad line: {line}"));
    };
    ticks_to_instructions(ticks, frequency)
}

/// Instructions Linux spent reading (and checksumming) the whole virtio disk.
fn disk_read_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = marked_line(what, outcome, "linux disk_read ")?;
    line_instructions(what, line, "ticks")
}

/// `virtio_blk_read`: Linux reads the 4 MiB disk through Bulkhead's virtual
/// host bridge and the SMMU, against bare QEMU.
fn parse_virtio_blk_read(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bulkhead = disk_read_instructions("bulkhead", outcome)?;
    let bare = disk_read_instructions("bare", bare.ok_or("no bare run")?)?;
    Ok(comparison("virtio_blk_read", bulkhead, bare))
}

/// Instructions from reset to Linux's first userspace line (`/init`'s CNTVCT read).
fn linux_userspace_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = marked_line(what, outcome, "linux userspace ")?;
    line_instructions(what, line, "cntvct")
}

fn parse_linux_boot(outcome: &Outcome, bare: Option<&Outcome>) -> Result<Vec<Measurement>, String> {
    linux_boot_comparison("linux_boot_to_userspace", outcome, bare)
}

/// The same boot with Linux's console on its virtual PL011 instead of a
/// physical UART of its own.
fn parse_linux_boot_virtual_console(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    linux_boot_comparison("linux_boot_virtual_console", outcome, bare)
}

fn linux_boot_comparison(
    name: &str,
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bulkhead = linux_userspace_instructions("bulkhead", outcome)?;
    let bare = linux_userspace_instructions("bare", bare.ok_or("no bare boot")?)?;
    Ok(comparison(name, bulkhead, bare))
}

/// The `compute checksum=... ticks= cntfrq=` figure, on either UART.
fn compute_instructions(what: &str, outcome: &Outcome) -> Result<f64, String> {
    let line = outcome
        .uart
        .iter()
        .flat_map(|text| text.lines())
        // Bare QEMU: its own UART; Bulkhead: its virtual console, tagged.
        .map(|line| untagged(line.trim_end()))
        .find(|line| line.starts_with("compute checksum="))
        .ok_or(format!("{what}: no `compute checksum=` line"))?;
    line_instructions(what, line, "ticks")
}

/// `line` without a `[label] ` tag, if it has one.
fn untagged(line: &str) -> &str {
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map_or(line, |(_, text)| text)
}

/// `console_write_cost`: instructions per 64-byte line through the
/// virtual PL011 (one trap per byte) and through CONSOLE_WRITE (one call
/// per line), each into the partition's console ring and on to the UART.
fn parse_console_write_cost(
    outcome: &Outcome,
    _other: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let mut figures = Vec::new();
    for (sink, name) in [
        ("uart", "console_write_cost_virtual_pl011"),
        ("hypercall", "console_write_cost_console_write"),
    ] {
        let prefix = format!("flood cost sink={sink} ");
        let line = labelled_lines(&outcome.uart[0], "writer")
            .map(|(_, text)| text)
            .find(|text| text.starts_with(&prefix))
            .ok_or(format!("no `{prefix}` line"))?;
        let lines = field_u64(line, "lines")
            .filter(|&n| n > 0)
            .ok_or(format!("bad line: {line}"))?;
        let instructions = line_instructions(name, line, "ticks")?;
        figures.push(Measurement {
            name: name.into(),
            value: instructions / lines as f64,
            unit: "instructions/line",
        });
    }
    if let Some(notice) =
        labelled_lines(&outcome.uart[0], "writer").find(|(_, t)| t.contains("dropped"))
    {
        return Err(format!("the measured lines must all arrive: {}", notice.1));
    }
    Ok(figures)
}

fn parse_compute_slowdown(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bulkhead = compute_instructions("bulkhead", outcome)?;
    let bare = compute_instructions("bare", bare.ok_or("no bare boot")?)?;
    if bare <= 0.0 {
        return Err("bare: zero ticks".into());
    }
    let mut figures = comparison("guest_compute", bulkhead, bare);
    figures.push(Measurement {
        name: "guest_compute_slowdown".into(),
        value: (bulkhead / bare - 1.0) * 100.0,
        unit: "percent",
    });
    Ok(figures)
}

/// `<name>_bulkhead`, `<name>_bare` (instructions) and `<name>_ratio` (bulkhead / bare).
/// `trap_roundtrips`: the mean of each `trap bench` figure, under Bulkhead
/// and bare: an unassigned hypercall through the full dispatcher
/// (`hvc_unknown_roundtrip`) and a GICD_IIDR read (`gicd_read_roundtrip`).
fn parse_trap_roundtrips(
    outcome: &Outcome,
    bare: Option<&Outcome>,
) -> Result<Vec<Measurement>, String> {
    let bare = bare.ok_or("no bare run")?;
    let mean = |what: &str, outcome: &Outcome, marker: &str, count: &str| -> Result<f64, String> {
        let line = marked_line(what, outcome, marker)?;
        let (Some(n), Some(ticks), Some(frequency)) = (
            field_u64(line, count),
            field_u64(line, "ticks"),
            field_u64(line, "cntfrq"),
        ) else {
            return Err(format!("{what}: bad line: {line}"));
        };
        if n == 0 {
            return Err(format!("{what}: {line}: no samples"));
        }
        Ok(ticks_to_instructions(ticks, frequency)? / n as f64)
    };
    let mut figures = Vec::new();
    for (name, marker, count) in [
        ("hvc_unknown_roundtrip", "trap bench hvc_unknown ", "calls"),
        ("gicd_read_roundtrip", "trap bench gicd_read ", "reads"),
    ] {
        figures.extend(comparison(
            name,
            mean("bulkhead", outcome, marker, count)?,
            mean("bare", bare, marker, count)?,
        ));
    }
    Ok(figures)
}

fn comparison(name: &str, bulkhead: f64, bare: f64) -> Vec<Measurement> {
    vec![
        Measurement {
            name: format!("{name}_bulkhead"),
            value: bulkhead,
            unit: "instructions",
        },
        Measurement {
            name: format!("{name}_bare"),
            value: bare,
            unit: "instructions",
        },
        Measurement {
            name: format!("{name}_ratio"),
            value: bulkhead / bare,
            unit: "ratio",
        },
    ]
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
    fn linux_boot_ratio() {
        let bulkhead = outcome(
            "bulkhead: starting\n[    1.0] x\nlinux userspace cntvct=1100 cntfrq=62500000 uptime=2.15\n",
            "",
        );
        let bare = outcome(
            "linux userspace cntvct=1000 cntfrq=62500000 uptime=2.0\n",
            "",
        );
        let got = parse_linux_boot(&bulkhead, Some(&bare)).unwrap();
        assert_eq!(got[0].name, "linux_boot_to_userspace_bulkhead");
        assert!((got[0].value - 17_600.0).abs() < 1e-6, "{got:?}");
        assert!((got[1].value - 16_000.0).abs() < 1e-6, "{got:?}");
        assert!((got[2].value - 1.1).abs() < 1e-9, "{got:?}");
        assert!(parse_linux_boot(&bulkhead, None).is_err());
    }

    #[test]
    fn compute_slowdown_percent() {
        let line = |ticks: u64| {
            format!(
                "compute checksum=0x1 cores=2 memory=1 region=1 ticks={ticks} cntfrq=62500000\n"
            )
        };
        let got =
            parse_compute_slowdown(&outcome("", &line(1010)), Some(&outcome(&line(1000), "")))
                .unwrap();
        let slowdown = got.last().unwrap();
        assert_eq!(slowdown.name, "guest_compute_slowdown");
        assert!((slowdown.value - 1.0).abs() < 1e-9, "{got:?}");
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
