//! `cargo xtask bench`: boot each benchmark under icount and collect its measurements.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use bulkhead_scenarios::{BareBoot, Benchmark, Measurement};

use crate::artifacts::{self, target_dir};
use crate::board::{self, Board};
use crate::qemu;
use crate::runner::{self, Boot, Start};
use crate::test::{prepare, print_tails, selected};

/// Benchmarks `cargo xtask bench` also runs on the GICv2 board, their
/// figures named `NAME@qemu-virt-gicv2` beside the GICv3 ones:
/// `hypercall_and_boot` gives `hvc_null_roundtrip`.
pub const GICV2_BENCHMARKS: [&str; 3] = [
    "hypercall_and_boot",
    "irq_inject_latency",
    "linux_boot_to_userspace",
];

/// The boards `benchmark` runs on (`only`: the one `--board` named).
fn bench_boards(benchmark: &str, only: Option<Board>) -> Vec<Board> {
    match only {
        Some(board) => vec![board],
        None if board::GICV2_IN_DEFAULT_RUNS && GICV2_BENCHMARKS.contains(&benchmark) => {
            vec![Board::QemuVirt, Board::QemuVirtGicv2]
        }
        None => vec![Board::QemuVirt],
    }
}

/// Boots one benchmark on `board` and returns what its parser extracted,
/// names suffixed `@board` off the default board.
fn run_benchmark(
    benchmark: &Benchmark,
    board: Board,
    kernel: &std::path::Path,
) -> Result<Vec<Measurement>, String> {
    let found = run_benchmark_on(benchmark, board, kernel)?;
    Ok(if board == Board::default() {
        found
    } else {
        found
            .into_iter()
            .map(|m| Measurement {
                name: format!("{}@{board}", m.name),
                ..m
            })
            .collect()
    })
}

fn run_benchmark_on(
    benchmark: &Benchmark,
    board: Board,
    kernel: &std::path::Path,
) -> Result<Vec<Measurement>, String> {
    let dir = if board == Board::default() {
        target_dir().join("bench").join(benchmark.name)
    } else {
        target_dir()
            .join("bench")
            .join(format!("{}@{board}", benchmark.name))
    };
    let cpu = bulkhead_scenarios::cpu_models(benchmark.name)[0];
    let prepared = prepare(benchmark.layout, benchmark.modules, board, cpu, &dir)?;
    if !prepared.check_errors.is_empty() {
        return Err(format!(
            "layout refused:\n{}",
            prepared.check_errors.join("\n")
        ));
    }
    let mut outcome = runner::boot(&Boot {
        kernel,
        dtb: &prepared.merged,
        modules: &prepared.modules,
        log_dir: &dir,
        icount: true,
        timeout: Duration::from_secs(benchmark.timeout_secs),
        live: false,
        cpu,
        board,
        start: Start::Direct,
        input: runner::Input::None,
    })?;
    outcome.check_errors = prepared.check_errors;
    if outcome.timed_out {
        print_tails(&outcome, &dir);
        return Err(format!(
            "QEMU killed at the {} s timeout",
            benchmark.timeout_secs
        ));
    }
    let second_cpu = bulkhead_scenarios::cpu_models(benchmark.name)
        .get(1)
        .copied();
    let bare = match (&benchmark.bare, second_cpu) {
        // The same Bulkhead boot on the benchmark's second CPU model.
        (None, Some(other)) => {
            let other_dir = dir.join(other.name());
            let outcome = runner::boot(&Boot {
                kernel,
                dtb: &prepare(
                    benchmark.layout,
                    benchmark.modules,
                    board,
                    other,
                    &other_dir,
                )?
                .merged,
                modules: &prepared.modules,
                log_dir: &other_dir,
                icount: true,
                timeout: Duration::from_secs(benchmark.timeout_secs),
                live: false,
                cpu: other,
                board,
                start: Start::Direct,
                input: runner::Input::None,
            })?;
            if outcome.timed_out {
                print_tails(&outcome, &other_dir);
                return Err(format!(
                    "QEMU ({}) killed at the {} s timeout",
                    other.name(),
                    benchmark.timeout_secs
                ));
            }
            Some((outcome, other_dir))
        }
        (Some(bare), _) => {
            let bare_dir = dir.join("bare");
            let config = bare_config(bare, board, cpu)?;
            let outcome = runner::boot_bare(
                &config,
                &bare_dir,
                Duration::from_secs(benchmark.timeout_secs),
            )?;
            if outcome.timed_out {
                print_tails(&outcome, &bare_dir);
                return Err(format!(
                    "bare QEMU killed at the {} s timeout",
                    benchmark.timeout_secs
                ));
            }
            Some((outcome, bare_dir))
        }
        (None, None) => None,
    };
    let result = (benchmark.parse)(&outcome, bare.as_ref().map(|(outcome, _)| outcome));
    if result.is_err() {
        print_tails(&outcome, &dir);
        if let Some((outcome, bare_dir)) = &bare {
            print_tails(outcome, bare_dir);
        }
    }
    result
}

/// The file behind a bare boot's `kernel`/`initrd`: `linux:NAME` or a guest name.
fn bare_file(name: &str) -> Result<std::path::PathBuf, String> {
    match name.strip_prefix("linux:") {
        Some(linux) => crate::linux::module_file(linux),
        None => artifacts::guest_elf(name),
    }
}

/// The QEMU options of a benchmark's bare boot (the UART logs are set by the runner).
fn bare_config(
    bare: &BareBoot,
    board: Board,
    cpu: bulkhead_scenarios::CpuModel,
) -> Result<qemu::BareConfig, String> {
    Ok(qemu::BareConfig {
        kernel: bare_file(bare.kernel)?,
        initrd: bare.initrd.map(bare_file).transpose()?,
        append: bare.append.map(String::from),
        cpus: bare.cpus,
        memory_mib: bare.memory_mib,
        uart_logs: [std::path::PathBuf::new(), std::path::PathBuf::new()],
        icount: true,
        disk: artifacts::pci_disk_image()?,
        cpu,
        board,
    })
}

/// Escapes a string for a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number; JSON has no NaN or infinity, so those become `null`.
fn json_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".to_string()
    }
}

/// `[{"name": ..., "value": ..., "unit": ...}, ...]`, one object per line.
pub fn results_json(measurements: &[Measurement]) -> String {
    let mut out = String::from("[");
    for (index, m) in measurements.iter().enumerate() {
        out.push_str(if index == 0 { "\n  " } else { ",\n  " });
        let _ = write!(
            out,
            "{{\"name\": {}, \"value\": {}, \"unit\": {}}}",
            json_string(&m.name),
            json_number(m.value),
            json_string(m.unit)
        );
    }
    out.push_str(if measurements.is_empty() {
        "]\n"
    } else {
        "\n]\n"
    });
    out
}

/// `cargo xtask bench [FILTER]`.
pub fn bench_command(filter: Option<&str>, only: Option<Board>) -> Result<ExitCode, String> {
    crate::setup::ensure()?;
    let kernel = artifacts::build_hypervisor()?;
    artifacts::build_guests()?;
    let mut measurements = Vec::new();
    if selected("image_size", filter) {
        let size = std::fs::metadata(&kernel)
            .map_err(|error| format!("cannot read {}: {error}", kernel.display()))?
            .len();
        // Bytes of loadable sections = size of the raw objcopy image.
        measurements.push(Measurement {
            name: "image_size".into(),
            value: size as f64,
            unit: "bytes",
        });
        println!("image_size {size} bytes");
    }
    let mut failed = 0;
    for benchmark in bulkhead_scenarios::benchmarks()
        .iter()
        .filter(|b| selected(b.name, filter))
    {
        for board in bench_boards(benchmark.name, only) {
            match run_benchmark(benchmark, board, &kernel) {
                Ok(found) => {
                    for m in found {
                        println!("{} {} {}", m.name, json_number(m.value), m.unit);
                        measurements.push(m);
                    }
                }
                Err(reason) => {
                    failed += 1;
                    println!("FAIL {}@{board}: {reason}", benchmark.name);
                }
            }
        }
    }
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let path = dir.join("results.json");
    std::fs::write(&path, results_json(&measurements))
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    println!("wrote {}", path.display());
    let plots = dir.join("checkpoint.svg");
    if crate::plot::checkpoint_plots(&measurements, &plots)? {
        println!("wrote {}", plots.display());
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output() {
        let measurements = [
            Measurement {
                name: "image_size".into(),
                value: 65536.0,
                unit: "bytes",
            },
            Measurement {
                name: "hvc \"null\"".into(),
                value: 78.5,
                unit: "instructions",
            },
            Measurement {
                name: "broken".into(),
                value: f64::NAN,
                unit: "x",
            },
        ];
        assert_eq!(
            results_json(&measurements),
            "[\n  {\"name\": \"image_size\", \"value\": 65536, \"unit\": \"bytes\"},\n  \
             {\"name\": \"hvc \\\"null\\\"\", \"value\": 78.5, \"unit\": \"instructions\"},\n  \
             {\"name\": \"broken\", \"value\": null, \"unit\": \"x\"}\n]\n"
        );
        assert_eq!(results_json(&[]), "[]\n");
    }

    #[test]
    fn json_escapes_control_characters() {
        assert_eq!(json_string("a\\b\n\u{1}"), "\"a\\\\b\\n\\u0001\"");
    }
}
