//! `cargo xtask test`: host unit tests, then every QEMU scenario, one at a time.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use bulkhead_scenarios::{CpuModel, Firmware, Module, Outcome, Scenario};

use crate::artifacts::{self, target_dir, LoadedModule, ModuleSpec};
use crate::board::{self, Board};
use crate::check;
use crate::runner::{self, Boot, Start};

/// Crates with host unit tests.
const HOST_CRATES: [&str; 7] = [
    "bulkhead-abi",
    "bulkhead-cli",
    "bulkhead-core",
    "bulkhead-platform",
    "bulkhead-workload",
    "bulkhead-scenarios",
    "bulkhead-tools",
];

/// How many lines of each UART a failure report shows.
const TAIL_LINES: usize = 40;

/// What `cargo xtask test` was asked to do.
pub struct TestRequest {
    pub filter: Option<String>,
    /// `Some`: every scenario on that board only. `None`: every scenario on
    /// the default board and [`GICV2_DEFAULT_RUN`] on the GICv2 board.
    pub board: Option<Board>,
    pub host: bool,
    pub qemu: bool,
}

/// A layout prepared for booting: merged DTB, validator verdict, modules on disk.
pub struct Prepared {
    pub merged: PathBuf,
    pub check_errors: Vec<String>,
    pub modules: Vec<LoadedModule>,
}

/// Merges `layout` (relative to the repository root) onto the board in `dir`,
/// runs the host validator, and resolves the modules (guests must be built).
/// A module that does not fit its `kernel` is an error; a refused layout is not
/// (its lines are returned, so scenarios can boot it to watch the hypervisor refuse it).
pub fn prepare(
    layout: &str,
    modules: &[Module],
    board: Board,
    cpu: CpuModel,
    dir: &std::path::Path,
) -> Result<Prepared, String> {
    let merged = board::merged_layout(&runner::repo_path(layout), None, board, cpu, dir)?;
    let specs: Vec<ModuleSpec> = modules.iter().map(ModuleSpec::from_module).collect();
    let loaded = artifacts::resolve_modules(&specs)?;
    let check_errors = match check::validate_file(&merged)? {
        Ok(accepted) => {
            artifacts::check_modules_fit(&loaded, &accepted.layout)?;
            Vec::new()
        }
        Err(lines) => lines,
    };
    Ok(Prepared {
        merged,
        check_errors,
        modules: loaded,
    })
}

/// The last `count` lines of `text`, indented, for failure reports.
pub fn tail(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    lines[start..]
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect()
}

/// Prints the end of both UARTs of a failed boot.
pub fn print_tails(outcome: &Outcome, log_dir: &std::path::Path) {
    for (index, text) in outcome.uart.iter().enumerate() {
        println!(
            "  uart{index} (last {TAIL_LINES} lines; all in {}):",
            log_dir.join(format!("uart{index}.log")).display()
        );
        print!("{}", tail(text, TAIL_LINES));
    }
    // QEMU's own complaints (bad option, missing file) explain boots that never started.
    let messages = std::fs::read_to_string(log_dir.join("qemu.log")).unwrap_or_default();
    if !messages.trim().is_empty() {
        println!("  qemu:");
        print!("{}", tail(&messages, TAIL_LINES));
    }
}

/// Whether `name` passes an optional substring filter.
pub fn selected(name: &str, filter: Option<&str>) -> bool {
    filter.is_none_or(|filter| name.contains(filter))
}

fn host_tests() -> Result<(), String> {
    println!("== host unit tests");
    let mut command = artifacts::cargo();
    command.arg("test");
    for name in HOST_CRATES {
        command.args(["-p", name]);
    }
    // The board-description tests also read the real RPi4 DTB when it can
    // be fetched (Debian's, completed by QEMU raspi4b); they skip it otherwise.
    match crate::rpi4::board_dtb() {
        Ok(dtb) => {
            command.env("BULKHEAD_RPI4_DTB", dtb);
        }
        Err(error) => println!("note: no RPi4 board DTB for the host tests: {error}"),
    }
    artifacts::run_checked(&mut command, "host unit tests")?;
    lints()
}

/// `cargo clippy -D warnings`: the host crates with their tests, the
/// hypervisor for its soft-float target, the guests for theirs and the
/// Linux tool and test programs for their musl target (the crate roots deny undocumented unsafe
/// blocks, so this is where it bites).
fn lints() -> Result<(), String> {
    println!("== clippy");
    // The aarch64 targets may not be installed yet on a fresh machine.
    crate::setup::ensure()?;
    let mut host = artifacts::cargo();
    host.args(["clippy", "--all-targets"]);
    for name in HOST_CRATES {
        host.args(["-p", name]);
    }
    host.args(["--", "-D", "warnings"]);
    artifacts::run_checked(&mut host, "clippy (host crates)")?;
    for (package, target) in [
        ("bulkhead", artifacts::HYPERVISOR_TARGET),
        ("bulkhead-guests", artifacts::TARGET),
        ("bulkhead-cli", crate::linux::TOOL_TARGET),
        ("bulkhead-linux-programs", crate::linux::TOOL_TARGET),
    ] {
        let mut command = artifacts::cargo();
        command.args(["clippy", "--release", "-p", package, "--target", target]);
        command.args(["--", "-D", "warnings"]);
        artifacts::run_checked(&mut command, "clippy (aarch64)")?;
    }
    // The hypervisor as built for the other boards.
    let mut command = artifacts::cargo();
    command.args(["clippy", "--release", "-p", "bulkhead", "--target"]);
    command.args([artifacts::HYPERVISOR_TARGET, "--features", "board-rpi4"]);
    command.args(["--", "-D", "warnings"]);
    artifacts::run_checked(&mut command, "clippy (aarch64, rpi4)")?;
    Ok(())
}

/// The scenarios a plain `cargo xtask test` also boots on the GICv2 board
/// (`--board qemu-virt-gicv2` boots them all there): the ones whose
/// behaviour depends most on the interrupt controller (Linux's boot, SGI and
/// SPI isolation, the hostile GIC guest, checkpoints of GIC state, fault
/// containment), chosen to keep the full run within ~25 minutes on 2 cores.
pub const GICV2_SUBSET: [&str; 9] = [
    "linux_boot",
    "ckpt_linux",
    "ckpt_rollback",
    "irq_sgi_isolation",
    "irq_spi_ownership",
    "hostile_gic",
    "hostile_sgi",
    "isolation",
    "ckpt_on_fault_restore",
];

/// Whether the default run includes [`GICV2_SUBSET`] on the GICv2 board.
const GICV2_DEFAULT_RUN: bool = board::GICV2_IN_DEFAULT_RUNS;

/// One boot of a scenario on one CPU model and board.
struct Run {
    scenario: Scenario,
    cpu: CpuModel,
    board: Board,
    /// The scenario's name, with `@model` off the default model and
    /// `@board` off the default board.
    name: String,
}

/// The name (and directory) of one run.
fn run_name(scenario: &str, cpu: CpuModel, board: Board) -> String {
    let name = bulkhead_scenarios::run_name(scenario, cpu);
    if board == Board::default() {
        name
    } else {
        format!("{name}@{board}")
    }
}

/// The boards `scenario` boots on with its `cpu_index`-th CPU model, for
/// `request_board` (see [`TestRequest::board`]). The default run boots the
/// GICv2 subset on the scenario's first CPU model only: the interrupt
/// controller does not depend on the CPU model, and the run stays short.
fn boards_of(scenario: &str, cpu_index: usize, request_board: Option<Board>) -> Vec<Board> {
    match request_board {
        Some(board) => vec![board],
        None if GICV2_DEFAULT_RUN && cpu_index == 0 && GICV2_SUBSET.contains(&scenario) => {
            vec![Board::QemuVirt, Board::QemuVirtGicv2]
        }
        None => vec![Board::QemuVirt],
    }
}

/// Every run the scenarios make (each on each of its CPU models and
/// boards) whose name passes `filter`.
fn runs(filter: Option<&str>, request_board: Option<Board>) -> Vec<Run> {
    bulkhead_scenarios::all()
        .into_iter()
        .flat_map(|scenario| {
            bulkhead_scenarios::cpu_models(scenario.name)
                .iter()
                .enumerate()
                .flat_map(move |(cpu_index, &cpu)| {
                    let scenario = scenario.clone();
                    let boards = boards_of(scenario.name, cpu_index, request_board);
                    boards.into_iter().map(move |board| Run {
                        name: run_name(scenario.name, cpu, board),
                        scenario: scenario.clone(),
                        cpu,
                        board,
                    })
                })
        })
        .filter(|run| selected(&run.name, filter))
        .collect()
}

/// Boots one scenario; `Ok(())` if its check accepts what was seen.
fn run_scenario(run: &Run, kernel: &std::path::Path) -> Result<(), (String, Option<Outcome>)> {
    let scenario = &run.scenario;
    let dir = target_dir().join("scenarios").join(&run.name);
    let prepared = prepare(scenario.layout, scenario.modules, run.board, run.cpu, &dir)
        .map_err(|e| (e, None))?;
    let layout = runner::repo_path(scenario.layout);
    let mut outcome = runner::boot(&Boot {
        kernel,
        dtb: &prepared.merged,
        modules: &prepared.modules,
        log_dir: &dir,
        icount: scenario.icount,
        timeout: Duration::from_secs(scenario.timeout_secs),
        live: false,
        cpu: run.cpu,
        board: run.board,
        start: match bulkhead_scenarios::firmware(scenario.name) {
            Firmware::None => Start::Direct,
            Firmware::UBoot => Start::UBoot { layout: &layout },
        },
        input: match bulkhead_scenarios::console_input(scenario.name) {
            [] => runner::Input::None,
            steps => runner::Input::Script(steps),
        },
    })
    .map_err(|e| (e, None))?;
    outcome.check_errors = prepared.check_errors;
    let checked = (scenario.check)(&outcome).and_then(|()| no_runtime_allocation(&outcome));
    match checked {
        Ok(()) => Ok(()),
        Err(reason) => {
            let reason = if outcome.timed_out {
                format!(
                    "{reason} (QEMU killed at the {} s timeout)",
                    scenario.timeout_secs
                )
            } else {
                reason
            };
            Err((reason, Some(outcome)))
        }
    }
}

/// Every scenario, whatever it tests: Bulkhead allocated nothing once its
/// partitions ran (it reports the count when it powers the machine off).
fn no_runtime_allocation(outcome: &Outcome) -> Result<(), String> {
    match bulkhead_scenarios::runtime_allocations(&outcome.uart[0]) {
        Some(count) if count != 0 => Err(format!(
            "Bulkhead allocated {count} times after boot (guests must not be able to make it allocate)"
        )),
        _ => Ok(()),
    }
}

fn qemu_scenarios(filter: Option<&str>, board: Option<Board>) -> Result<(usize, usize), String> {
    let scenarios = runs(filter, board);
    if scenarios.is_empty() {
        return Err(format!("no scenario matches `{}`", filter.unwrap_or("")));
    }
    crate::setup::ensure()?;
    let kernel = artifacts::build_hypervisor()?;
    artifacts::build_guests()?;
    println!(
        "== {} QEMU scenario{}",
        scenarios.len(),
        if scenarios.len() == 1 { "" } else { "s" }
    );
    let mut failed = 0;
    for run in &scenarios {
        let started = Instant::now();
        match run_scenario(run, &kernel) {
            Ok(()) => println!(
                "PASS {} ({:.1} s)",
                run.name,
                started.elapsed().as_secs_f64()
            ),
            Err((reason, outcome)) => {
                failed += 1;
                println!("FAIL {}: {reason}", run.name);
                if let Some(outcome) = outcome {
                    print_tails(&outcome, &target_dir().join("scenarios").join(&run.name));
                }
            }
        }
    }
    Ok((scenarios.len() - failed, failed))
}

/// `cargo xtask test [FILTER] [--host-only|--qemu-only]`.
pub fn test_command(request: TestRequest) -> Result<ExitCode, String> {
    let started = Instant::now();
    let mut problems = Vec::new();
    if request.host {
        if let Err(error) = host_tests() {
            problems.push(error);
        }
        if let Err(error) = crate::fuzz::ci_slice() {
            problems.push(error);
        }
    }
    let mut counts = None;
    if request.qemu {
        match qemu_scenarios(request.filter.as_deref(), request.board) {
            Ok(result) => counts = Some(result),
            Err(error) => problems.push(error),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if let Some((passed, failed)) = counts {
        println!("scenarios: {passed} passed, {failed} failed ({elapsed:.1} s)");
        if failed > 0 {
            problems.push(format!("{failed} scenario(s) failed"));
        }
    }
    if problems.is_empty() {
        println!("test: all passed ({elapsed:.1} s)");
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &problems {
            println!("test: {problem}");
        }
        Ok(ExitCode::FAILURE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("a\nb\nc\n", 2), "    b\n    c\n");
        assert_eq!(tail("a", 5), "    a\n");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn gicv2_subset_names_scenarios_and_runs_are_named_by_board() {
        let all = bulkhead_scenarios::all();
        for name in GICV2_SUBSET {
            assert!(all.iter().any(|s| s.name == name), "{name} is no scenario");
        }
        assert_eq!(
            run_name("linux_boot", CpuModel::CortexA72, Board::QemuVirt),
            "linux_boot"
        );
        assert_eq!(
            run_name("linux_boot", CpuModel::Max, Board::QemuVirtGicv2),
            "linux_boot@max@qemu-virt-gicv2"
        );
        let everywhere = runs(Some("irq_sgi_isolation"), Some(Board::QemuVirtGicv2));
        assert!(everywhere
            .iter()
            .all(|run| run.board == Board::QemuVirtGicv2));
        assert!(!everywhere.is_empty());
        let default = runs(None, None);
        assert!(default.iter().any(|run| run.board == Board::QemuVirt));
        let on_gicv2 = default
            .iter()
            .filter(|run| run.board == Board::QemuVirtGicv2);
        assert!(on_gicv2
            .clone()
            .all(|run| GICV2_SUBSET.contains(&run.scenario.name)));
        assert!(on_gicv2
            .clone()
            .all(|run| run.cpu == bulkhead_scenarios::cpu_models(run.scenario.name)[0]));
        let expected = if GICV2_DEFAULT_RUN {
            GICV2_SUBSET.len()
        } else {
            0
        };
        assert_eq!(on_gicv2.count(), expected);
    }

    #[test]
    fn filter_is_a_substring() {
        assert!(selected("isolation", None));
        assert!(selected("isolation", Some("sol")));
        assert!(!selected("psci", Some("sol")));
    }
}
