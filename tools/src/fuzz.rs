//! `cargo xtask fuzz`: runs a cargo-fuzz target of bulkhead-core under libFuzzer.
//!
//! The targets live in `hypervisor/core/fuzz` (its own workspace, built with
//! nightly). Everything generated goes under Cargo's target directory, which git
//! ignores: the build in `target/fuzz`, the growing corpus in
//! `target/fuzz-corpus/<target>` (the checked-in `seeds/` are read, never
//! written), failing inputs in `target/fuzz-artifacts/<target>`.
//!
//! libFuzzer's output is streamed through as it comes and read on the way for
//! the summary: the executions count (`stat::number_of_executed_units`, or the
//! last `#N` status line), the failing inputs written (`Test unit written to`),
//! and the panic message of the target, if it panicked.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::artifacts::{self, repo_root, run_checked, target_dir};

/// The target `cargo xtask fuzz` runs when none is named: the layout validator.
pub const DEFAULT_TARGET: &str = "layout";
/// What `cargo xtask test` fuzzes, each for a slice: the layout validator
/// (host- and board-controlled DTBs), the virtual PCI config space and
/// the virtual console (guest-controlled accesses, typed input).
const CI_TARGETS: [&str; 3] = [DEFAULT_TARGET, "virtual_pci", "virtual_console"];

/// The slice `cargo xtask test` runs: whichever bound is reached first.
const CI_RUNS: u64 = 200_000;
const CI_SECONDS: u64 = 20;

/// The crate whose fuzz project (`fuzz/`) we run, relative to the repository root.
const FUZZED_CRATE: &str = "hypervisor/core";

/// The toolchain cargo-fuzz needs (sanitizers and `-Z` flags).
const NIGHTLY: &str = "nightly";

/// What `cargo xtask fuzz` was asked to do.
pub struct FuzzRequest {
    /// A bin of the fuzz project (`fuzz_targets/<target>.rs`).
    pub target: String,
    /// libFuzzer `-runs=N`.
    pub runs: Option<u64>,
    /// libFuzzer `-max_total_time=S`.
    pub seconds: Option<u64>,
    /// cargo-fuzz `--jobs` (libFuzzer `-fork=N` when above 1).
    pub jobs: u16,
}

/// A failing input libFuzzer wrote.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// `crash`, `leak`, `timeout` or `oom`: the artifact's file name prefix.
    pub kind: String,
    /// The input, under `target/fuzz-artifacts/<target>`.
    pub input: PathBuf,
}

/// What a fuzzing run's output said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Findings {
    /// Executions: the final stats if printed, else the last status line's count.
    pub runs: Option<u64>,
    /// Failing inputs written (libFuzzer stops at the first unless in fork mode).
    pub failures: Vec<Failure>,
    /// The target's panic message (`panicked at FILE:LINE:COL:` and what follows).
    pub panic: Vec<String>,
    /// Sanitizer or libFuzzer `SUMMARY:` lines, and the failing input's `Base64:`.
    pub summaries: Vec<String>,
    /// Whether the next lines continue a panic message.
    in_panic: bool,
}

impl Findings {
    /// Takes one line of libFuzzer's (or the target's) stderr into account.
    pub fn read_line(&mut self, line: &str) {
        let line = line.trim_end();
        if self.in_panic {
            let ended = line.is_empty()
                || line.starts_with("note:")
                || line.starts_with("stack backtrace:")
                || line.starts_with("==");
            if ended {
                self.in_panic = false;
            } else {
                self.panic.push(line.to_string());
                return;
            }
        }
        // `thread '<unnamed>' (6446) panicked at FILE:LINE:COL:` (newer Rust adds the thread id).
        if line.starts_with("thread ") && line.contains(" panicked at ") {
            self.panic.push(line.to_string());
            self.in_panic = true;
        } else if let Some(count) = line.strip_prefix("stat::number_of_executed_units:") {
            if let Ok(count) = count.trim().parse() {
                self.runs = Some(count);
            }
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            let input = PathBuf::from(path.trim());
            let name = input
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            // slow-unit- files are reports, not failures.
            if let Some(kind) = ["crash", "leak", "timeout", "oom"]
                .into_iter()
                .find(|kind| name.starts_with(&format!("{kind}-")))
            {
                self.failures.push(Failure {
                    kind: kind.to_string(),
                    input,
                });
            }
        } else if line.starts_with("SUMMARY: ") || line.starts_with("Base64: ") {
            self.summaries.push(line.to_string());
        } else if let Some(count) = status_count(line) {
            // Final stats come last and win over status lines; status lines only grow.
            if self.runs.is_none_or(|runs| runs < count) {
                self.runs = Some(count);
            }
        }
    }
}

/// The executions count of a libFuzzer status line: `#524288\tpulse  cov: ...`,
/// or `#1000: cov: ...` from the parent in fork mode.
fn status_count(line: &str) -> Option<u64> {
    let rest = line.strip_prefix('#')?;
    let digits: &str = &rest[..rest.find(|c: char| !c.is_ascii_digit())?];
    let after = &rest[digits.len()..];
    if !(after.starts_with('\t') || after.starts_with(": cov:")) {
        return None;
    }
    digits.parse().ok()
}

/// What a fuzzing run came to, as the summary line tells it.
pub struct Report {
    pub target: String,
    pub findings: Findings,
    pub corpus_entries: usize,
    pub seconds: f64,
}

impl Report {
    /// `fuzz layout: 10000000 runs, 0 crashes, corpus 1234 entries (52.1 s)`; the time is
    /// the wall time of `cargo fuzz run`, build included.
    pub fn summary(&self) -> String {
        let runs = self
            .findings
            .runs
            .map_or_else(|| "unknown".to_string(), |runs| runs.to_string());
        let failures = self.findings.failures.len();
        let crashes = match failures {
            1 => format!("1 {}", self.findings.failures[0].kind),
            _ => format!("{failures} crashes"),
        };
        format!(
            "fuzz {}: {runs} runs, {crashes}, corpus {} entries ({:.1} s)",
            self.target, self.corpus_entries, self.seconds
        )
    }
}

/// `cargo xtask fuzz [TARGET] [--runs N] [--seconds S] [--jobs N]`.
pub fn fuzz_command(request: FuzzRequest) -> Result<ExitCode, String> {
    let report = fuzz(&request)?;
    Ok(if report.findings.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The bounded slice of the layout target that `cargo xtask test` runs on the host.
pub fn ci_slice() -> Result<(), String> {
    for target in CI_TARGETS {
        println!("== fuzz {target} (at most {CI_RUNS} runs or {CI_SECONDS} s)");
        let report = fuzz(&FuzzRequest {
            target: target.to_string(),
            runs: Some(CI_RUNS),
            seconds: Some(CI_SECONDS),
            jobs: 1,
        })?;
        if let Some(failure) = report.findings.failures.first() {
            return Err(format!(
                "fuzz {target}: {} on the input in {}",
                failure.kind,
                failure.input.display()
            ));
        }
    }
    Ok(())
}

/// Installs what is missing, runs the target, prints the summary line (and the
/// failing input and panic message, if any). A failing input is not an `Err`:
/// it is in the report; `Err` is for a fuzzer that could not run.
pub fn fuzz(request: &FuzzRequest) -> Result<Report, String> {
    let fuzzed_crate = repo_root().join(FUZZED_CRATE);
    let fuzz_dir = fuzzed_crate.join("fuzz");
    check_target(&fuzz_dir, &request.target)?;
    ensure_tools()?;
    let corpus = target_dir().join("fuzz-corpus").join(&request.target);
    let failures = target_dir().join("fuzz-artifacts").join(&request.target);
    for dir in [&corpus, &failures] {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }

    let mut command = nightly_cargo();
    command
        .current_dir(&fuzzed_crate)
        .args(["fuzz", "run", "--target-dir"])
        .arg(target_dir().join("fuzz"))
        .args(["--jobs", &request.jobs.to_string()])
        .arg(&request.target)
        // libFuzzer writes new inputs to the first directory only.
        .arg(&corpus)
        .arg(fuzz_dir.join("seeds"))
        .arg("--")
        .args(libfuzzer_flags(request, &failures))
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start cargo fuzz: {error}"))?;
    let mut findings = Findings::default();
    if let Some(stderr) = child.stderr.take() {
        let mut reader = BufReader::new(stderr);
        let mut line = Vec::new();
        let mut echo = std::io::stderr();
        // Byte lines: the target's output need not be UTF-8.
        while reader
            .read_until(b'\n', &mut line)
            .map_err(|error| format!("reading cargo fuzz's output: {error}"))?
            > 0
        {
            // Losing the echo (a closed terminal) must not stop the run.
            let _ = echo.write_all(&line);
            findings.read_line(&String::from_utf8_lossy(&line));
            line.clear();
        }
    }
    let status = child
        .wait()
        .map_err(|error| format!("waiting for cargo fuzz: {error}"))?;
    let report = Report {
        target: request.target.clone(),
        findings,
        corpus_entries: count_files(&corpus),
        seconds: started.elapsed().as_secs_f64(),
    };
    if !status.success() && report.findings.failures.is_empty() {
        return Err(format!(
            "cargo fuzz run {} failed ({status}) without writing a failing input",
            request.target
        ));
    }
    println!("{}", report.summary());
    for failure in &report.findings.failures {
        println!("  {} input: {}", failure.kind, failure.input.display());
    }
    for line in report
        .findings
        .panic
        .iter()
        .chain(&report.findings.summaries)
    {
        println!("  {line}");
    }
    Ok(report)
}

/// The libFuzzer flags after `--`: the bounds, final stats, where failures go.
fn libfuzzer_flags(request: &FuzzRequest, failures: &Path) -> Vec<String> {
    let mut flags = Vec::new();
    if let Some(runs) = request.runs {
        flags.push(format!("-runs={runs}"));
    }
    if let Some(seconds) = request.seconds {
        flags.push(format!("-max_total_time={seconds}"));
    }
    flags.push("-print_final_stats=1".to_string());
    // After cargo-fuzz's own -artifact_prefix (the fuzz dir), so this one wins.
    // The trailing slash makes it a directory.
    flags.push(format!("-artifact_prefix={}/", failures.display()));
    flags
}

/// Fails, naming the targets there are, if `target` is not one.
fn check_target(fuzz_dir: &Path, target: &str) -> Result<(), String> {
    let targets_dir = fuzz_dir.join("fuzz_targets");
    let mut targets: Vec<String> = std::fs::read_dir(&targets_dir)
        .map_err(|error| format!("cannot list {}: {error}", targets_dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    targets.sort();
    if targets.iter().any(|name| name == target) {
        Ok(())
    } else {
        Err(format!(
            "no fuzz target `{target}` in {} (there are: {})",
            targets_dir.display(),
            targets.join(", ")
        ))
    }
}

/// `cargo` of the nightly toolchain, whatever toolchain runs us.
fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command.args(["run", NIGHTLY, "cargo"]);
    // Cargo's variables for us (`cargo xtask` runs on stable) must not leak into the nightly build.
    command.env_remove("CARGO").env_remove("RUSTC");
    command
}

/// Installs the nightly toolchain and cargo-fuzz if they are missing. The
/// minimal profile is enough: cargo-fuzz needs nightly's rustc, cargo and host
/// rust-std (which ships the sanitizer runtimes), not rust-src, as it does not
/// rebuild std (no `--build-std`).
fn ensure_tools() -> Result<(), String> {
    let toolchains = output_of(Command::new("rustup").args(["toolchain", "list"]))
        .ok_or("fuzz: rustup is needed to install the nightly toolchain")?;
    if !toolchains.lines().any(is_plain_nightly) {
        println!("fuzz: installing the {NIGHTLY} toolchain");
        run_checked(
            Command::new("rustup").args(["toolchain", "install", NIGHTLY, "--profile", "minimal"]),
            "rustup toolchain install nightly",
        )?;
    }
    if output_of(nightly_cargo().args(["fuzz", "--version"])).is_none() {
        println!("fuzz: installing cargo-fuzz");
        run_checked(
            artifacts::cargo().args(["install", "cargo-fuzz", "--locked"]),
            "cargo install cargo-fuzz",
        )?;
    }
    Ok(())
}

/// Whether a `rustup toolchain list` line is the undated nightly that
/// `rustup run nightly` means (`nightly-x86_64-unknown-linux-gnu (default)`),
/// not a dated one (`nightly-2026-05-19-x86_64-...`).
fn is_plain_nightly(line: &str) -> bool {
    line.split_whitespace()
        .next()
        .and_then(|name| name.strip_prefix("nightly-"))
        .is_some_and(|host| !host.starts_with(|c: char| c.is_ascii_digit()))
}

/// Files directly in `dir` (0 if it cannot be read).
fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
            .count()
    })
}

/// Stdout of a successful command, `None` if it is missing or fails.
fn output_of(command: &mut Command) -> Option<String> {
    let output = command.stderr(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Findings {
        let mut findings = Findings::default();
        for line in text.lines() {
            findings.read_line(line);
        }
        findings
    }

    #[test]
    fn clean_run_takes_the_final_stats() {
        let findings = read(
            "#2\tINITED cov: 1795 ft: 1796 corp: 1/9094b exec/s: 0 rss: 58Mb\n\
             #524288\tpulse  cov: 2811 ft: 9000 corp: 700/3Mb lim: 9098 exec/s: 3300 rss: 400Mb\n\
             Done 10000000 runs in 3001 second(s)\n\
             stat::number_of_executed_units: 10000000\n\
             stat::average_exec_per_sec:     3332\n",
        );
        assert_eq!(findings.runs, Some(10_000_000));
        assert!(findings.failures.is_empty());
        assert!(findings.panic.is_empty());
    }

    #[test]
    fn panic_is_caught_with_its_input() {
        let findings = read(
            "#4096\tpulse  cov: 2000 ft: 5000 corp: 300/1Mb exec/s: 2048 rss: 200Mb\n\
             thread '<unnamed>' (6446) panicked at hypervisor/core/src/config/dt.rs:10:5:\n\
             attempt to add with overflow\n\
             stack backtrace:\n\
             \x20  0: __rustc::rust_begin_unwind\n\
             ==1234== ERROR: libFuzzer: deadly signal\n\
             SUMMARY: libFuzzer: deadly signal\n\
             artifact_prefix='/w/target/fuzz-artifacts/layout/'; Test unit written to /w/target/fuzz-artifacts/layout/crash-0123abcd\n\
             Base64: RlVa\n\
             stat::number_of_executed_units: 4100\n",
        );
        assert_eq!(findings.runs, Some(4100));
        assert_eq!(
            findings.failures,
            vec![Failure {
                kind: "crash".to_string(),
                input: PathBuf::from("/w/target/fuzz-artifacts/layout/crash-0123abcd"),
            }]
        );
        assert_eq!(
            findings.panic,
            vec![
                "thread '<unnamed>' (6446) panicked at hypervisor/core/src/config/dt.rs:10:5:",
                "attempt to add with overflow",
            ]
        );
        assert_eq!(
            findings.summaries,
            vec!["SUMMARY: libFuzzer: deadly signal", "Base64: RlVa"]
        );
    }

    #[test]
    fn slow_units_are_not_failures() {
        let findings = read("artifact_prefix='a/'; Test unit written to a/slow-unit-99\n");
        assert!(findings.failures.is_empty());
    }

    #[test]
    fn fork_mode_status_lines_count() {
        let findings = read(
            "#120000: cov: 2800 ft: 9000 corp: 700 exec/s: 3000 oom/timeout/crash: 0/0/0 time: 40s job: 3 dft_time: 0\n\
             INFO: fuzzed for 120000 iterations, wrapping up soon\n",
        );
        assert_eq!(findings.runs, Some(120_000));
        assert_eq!(status_count("#12 is not a status line"), None);
        assert_eq!(status_count("#\tINITED"), None);
    }

    #[test]
    fn summary_line() {
        let report = Report {
            target: "layout".to_string(),
            findings: Findings {
                runs: Some(10_000_000),
                ..Findings::default()
            },
            corpus_entries: 1234,
            seconds: 52.08,
        };
        assert_eq!(
            report.summary(),
            "fuzz layout: 10000000 runs, 0 crashes, corpus 1234 entries (52.1 s)"
        );
    }

    #[test]
    fn only_the_undated_nightly_is_plain() {
        assert!(is_plain_nightly("nightly-x86_64-unknown-linux-gnu"));
        assert!(is_plain_nightly(
            "nightly-x86_64-unknown-linux-gnu (default)"
        ));
        assert!(!is_plain_nightly(
            "nightly-2026-05-19-x86_64-unknown-linux-gnu"
        ));
        assert!(!is_plain_nightly(
            "stable-x86_64-unknown-linux-gnu (active, default)"
        ));
    }

    #[test]
    fn flags_bound_the_run() {
        let request = FuzzRequest {
            target: DEFAULT_TARGET.to_string(),
            runs: Some(200),
            seconds: Some(5),
            jobs: 1,
        };
        assert_eq!(
            libfuzzer_flags(&request, Path::new("/t/fuzz-artifacts/layout")),
            vec![
                "-runs=200",
                "-max_total_time=5",
                "-print_final_stats=1",
                "-artifact_prefix=/t/fuzz-artifacts/layout/",
            ]
        );
    }
}
