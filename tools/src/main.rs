//! `cargo xtask`: Bulkhead's host command line (build, run, check, test, bench, fuzz).
//!
//! This file only parses arguments and dispatches; each command lives in its
//! own module. QEMU command lines are built in [`qemu`] and nowhere else.

mod artifacts;
mod bench;
mod board;
mod boards;
mod check;
mod fuzz;
mod linux;
mod plot;
mod qemu;
mod rpi4;
mod runner;
mod setup;
mod test;
mod uboot;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::artifacts::ModuleSpec;

/// Bulkhead's build, run and test tool (invoked as `cargo xtask`).
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the hypervisor and every guest, and objcopy them to raw images under
    /// target/images (one image serves both QEMU virt boards; rpi4 has its own);
    /// fetch or dump the board's DTB.
    Build(BuildArgs),
    /// Build, validate a layout on the host, and boot it in QEMU, printing both UARTs live.
    Run(RunArgs),
    /// Validate a layout overlay against a board DTB, as the hypervisor would at boot.
    Check(CheckArgs),
    /// Run the host unit tests and a short fuzz slice, then boot every QEMU scenario and check what it printed.
    Test(TestArgs),
    /// Boot every benchmark under icount and write target/bench/results.json.
    Bench(BenchArgs),
    /// Fuzz a bulkhead-core parser with cargo-fuzz on nightly (both installed if missing); fails on a crash.
    Fuzz(FuzzArgs),
}

#[derive(clap::Args, Debug)]
struct BuildArgs {
    /// Board to build for: qemu-virt (GICv3), qemu-virt-gicv2 (the same image)
    /// or rpi4 (its link address, console and reserved area: target/images/bulkhead-rpi4.bin).
    #[arg(long, value_name = "BOARD", default_value = "qemu-virt", value_parser = board::parse_board_name)]
    board: board::Board,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Board to boot: qemu-virt (GICv3), qemu-virt-gicv2 (QEMU virt with a GICv2) or
    /// rpi4 (QEMU raspi4b with Debian's bcm2711-rpi-4-b.dtb; default layout
    /// tests-qemu/layouts/rpi4.dtso; only --layout, --module, --timeout and --skip-check apply).
    #[arg(long, value_name = "BOARD", default_value = "qemu-virt", value_parser = board::parse_board_name)]
    board: board::Board,
    /// Layout overlay (.dtso source or compiled .dtbo); default: the demo, Debian's Linux
    /// beside a bare-metal partition (tests-qemu/layouts/linux.dtso, scenario `linux_boot`).
    #[arg(long, value_name = "FILE")]
    layout: Option<PathBuf>,
    /// Boot module to load: ADDR=FILE (a raw image) or ADDR=guest:NAME (a guest of
    /// tests-qemu/guests). ADDR is hexadecimal with 0x or decimal. Repeat for several.
    #[arg(long = "module", value_name = "ADDR=FILE|ADDR=guest:NAME")]
    modules: Vec<ModuleSpec>,
    /// Run QEMU with `-icount shift=0,align=off,sleep=off` (deterministic instruction counting).
    #[arg(long)]
    icount: bool,
    /// Kill QEMU after this many seconds of wall time.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
    /// Boot even if the host validator refuses the layout (to see the hypervisor refuse it).
    #[arg(long)]
    skip_check: bool,
    /// Do not connect the terminal to Bulkhead's console input (by default
    /// `run` puts it in raw mode and sends what is typed to the focused partition).
    #[arg(long)]
    no_input: bool,
    /// QEMU CPU model: cortex-a72, neoverse-v1 (SVE 256-bit, PAuth) or max
    /// (SVE, PAuth, MTE, SME: guests see what Bulkhead virtualizes whole).
    #[arg(long, value_name = "MODEL", default_value = "cortex-a72", value_parser = parse_cpu)]
    cpu: bulkhead_scenarios::CpuModel,
    /// What starts Bulkhead: none (QEMU loads it and the modules and enters it
    /// at EL2, as `-kernel`) or u-boot (Debian's U-Boot as the machine's
    /// firmware loads everything from a disk built under target/run, applies
    /// the layout to the board DT and runs `booti`, as on a board).
    #[arg(long, value_name = "FIRMWARE", default_value = "none", value_parser = parse_firmware)]
    firmware: bulkhead_scenarios::Firmware,
}

fn parse_firmware(name: &str) -> Result<bulkhead_scenarios::Firmware, String> {
    bulkhead_scenarios::Firmware::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = bulkhead_scenarios::firmware::ALL
            .iter()
            .map(|firmware| firmware.name())
            .collect();
        format!("unknown firmware `{name}` (known: {})", known.join(", "))
    })
}

fn parse_cpu(name: &str) -> Result<bulkhead_scenarios::CpuModel, String> {
    bulkhead_scenarios::CpuModel::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = bulkhead_scenarios::cpu_models::ALL
            .iter()
            .map(|model| model.name())
            .collect();
        format!("unknown CPU model `{name}` (known: {})", known.join(", "))
    })
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Layout overlay: a .dtso source (compiled with dtc) or a compiled .dtbo.
    #[arg(value_name = "FILE")]
    layout: PathBuf,
    /// Board to check against: a board name (qemu-virt, qemu-virt-gicv2, rpi4: its DTB
    /// as `cargo xtask run` boots it and its reserved areas) or any board's DTB file
    /// (checked with qemu-virt's reserved areas).
    #[arg(long, value_name = "BOARD|BOARD.dtb", default_value = "qemu-virt", value_parser = check::BoardChoice::parse)]
    board: check::BoardChoice,
}

#[derive(clap::Args, Debug)]
struct TestArgs {
    /// Only boot scenarios whose name contains this text.
    #[arg(value_name = "FILTER")]
    filter: Option<String>,
    /// Run the host unit tests and the fuzz slice only (no QEMU).
    #[arg(long, conflicts_with = "qemu_only")]
    host_only: bool,
    /// Boot the QEMU scenarios only (skip the host unit tests and the fuzz slice).
    #[arg(long)]
    qemu_only: bool,
    /// Boot every scenario on this board only (qemu-virt, qemu-virt-gicv2, or rpi4:
    /// the scenarios of tests-qemu/scenarios/src/boards.rs on QEMU raspi4b);
    /// default: every scenario on qemu-virt, a GICv2 subset on qemu-virt-gicv2
    /// and the rpi4 scenarios.
    #[arg(long, value_name = "BOARD", value_parser = board::parse_board_name)]
    board: Option<board::Board>,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Only run benchmarks whose name contains this text.
    #[arg(value_name = "FILTER")]
    filter: Option<String>,
    /// Run on this board only; default: qemu-virt, plus the GICv2 figures of a few
    /// benchmarks on qemu-virt-gicv2.
    #[arg(long, value_name = "BOARD", value_parser = board::parse_board_name)]
    board: Option<board::Board>,
}

#[derive(clap::Args, Debug)]
struct FuzzArgs {
    /// Fuzz target: a bin of hypervisor/core/fuzz (fuzz_targets/TARGET.rs).
    #[arg(value_name = "TARGET", default_value = fuzz::DEFAULT_TARGET)]
    target: String,
    /// Stop after this many executions (libFuzzer `-runs=N`); default: no limit.
    #[arg(long, value_name = "N")]
    runs: Option<u64>,
    /// Stop after this many seconds of fuzzing (libFuzzer `-max_total_time=S`); default: no limit.
    #[arg(long, value_name = "S")]
    seconds: Option<u64>,
    /// Fuzz in this many processes (cargo-fuzz `--jobs`, libFuzzer `-fork=N` above 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) if args.board == board::Board::Rpi4 => {
            artifacts::build_hypervisor_for(args.board.build())
                .and_then(|image| {
                    board::board_dtb(args.board, bulkhead_scenarios::CpuModel::CortexA72)
                        .map(|_| image)
                })
                .map(|image| {
                    println!("hypervisor: {}", image.display());
                    ExitCode::SUCCESS
                })
        }
        Command::Build(args) => artifacts::build_all()
            .and_then(|_| board::board_dtb(args.board, bulkhead_scenarios::CpuModel::CortexA72))
            .map(|_| ExitCode::SUCCESS),
        Command::Run(args) if args.board == board::Board::Rpi4 => rpi4::run_command(
            args.layout,
            args.modules,
            std::time::Duration::from_secs(args.timeout),
            args.skip_check,
        ),
        Command::Run(args) => runner::run_command(runner::RunRequest {
            layout: args.layout,
            modules: args.modules,
            icount: args.icount,
            timeout_secs: args.timeout,
            skip_check: args.skip_check,
            no_input: args.no_input,
            cpu: args.cpu,
            board: args.board,
            firmware: args.firmware,
        }),
        Command::Check(args) => check::check_command(&args.layout, &args.board),
        Command::Test(args) if args.board == Some(board::Board::Rpi4) => {
            // Host tests are the same for every board; then the board's scenarios.
            let host = if args.qemu_only {
                Ok(ExitCode::SUCCESS)
            } else {
                test::test_command(test::TestRequest {
                    filter: None,
                    board: None,
                    host: true,
                    qemu: false,
                })
            };
            match host {
                Ok(code) if args.host_only || code != ExitCode::SUCCESS => Ok(code),
                Ok(_) => rpi4::test_scenarios(args.filter.as_deref()),
                Err(error) => Err(error),
            }
        }
        Command::Test(args) => {
            let all_boards = args.board.is_none() && !args.host_only;
            let filter = args.filter.clone();
            let result = test::test_command(test::TestRequest {
                filter: args.filter,
                board: args.board,
                host: !args.qemu_only,
                qemu: !args.host_only,
            });
            // The default run also boots the rpi4 scenarios (QEMU raspi4b).
            match result {
                Ok(code) if all_boards => rpi4::test_scenarios(filter.as_deref()).map(|rpi4| {
                    if code == ExitCode::SUCCESS {
                        rpi4
                    } else {
                        code
                    }
                }),
                other => other,
            }
        }
        Command::Bench(args) if args.board == Some(board::Board::Rpi4) => Err(
            "no benchmark runs on rpi4 yet: its figures are taken on qemu-virt and qemu-virt-gicv2"
                .into(),
        ),
        Command::Bench(args) => bench::bench_command(args.filter.as_deref(), args.board),
        Command::Fuzz(args) => fuzz::fuzz_command(fuzz::FuzzRequest {
            target: args.target,
            runs: args.runs,
            seconds: args.seconds,
            jobs: args.jobs,
        }),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_several_modules() {
        let cli = Cli::try_parse_from([
            "xtask",
            "run",
            "--module",
            "0x4a000000=guest:compute",
            "--module",
            "0x4b000000=/tmp/image.bin",
            "--icount",
        ])
        .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.modules.len(), 2);
        assert!(args.icount);
        assert_eq!(args.timeout, 120);
        assert_eq!(args.firmware, bulkhead_scenarios::Firmware::None);
    }

    #[test]
    fn run_takes_a_firmware() {
        let cli = Cli::try_parse_from(["xtask", "run", "--firmware", "u-boot"])
            .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.firmware, bulkhead_scenarios::Firmware::UBoot);
        assert!(Cli::try_parse_from(["xtask", "run", "--firmware", "uefi"]).is_err());
    }

    #[test]
    fn board_is_taken_by_every_command() {
        let cli = Cli::try_parse_from(["xtask", "test", "--board", "qemu-virt-gicv2", "sgi"])
            .expect("valid command line");
        let Command::Test(args) = cli.command else {
            panic!("expected test");
        };
        assert_eq!(args.board, Some(board::Board::QemuVirtGicv2));
        let cli = Cli::try_parse_from(["xtask", "run", "--board", "qemu-virt-gicv2"])
            .expect("valid command line");
        let Command::Run(args) = cli.command else {
            panic!("expected run");
        };
        assert_eq!(args.board, board::Board::QemuVirtGicv2);
        let cli = Cli::try_parse_from(["xtask", "check", "x.dtso", "--board", "/b/rpi.dtb"])
            .expect("valid command line");
        let Command::Check(args) = cli.command else {
            panic!("expected check");
        };
        assert_eq!(args.board, check::BoardChoice::File("/b/rpi.dtb".into()));
        assert!(Cli::try_parse_from(["xtask", "build", "--board", "qemu-virt-gicv2"]).is_ok());
        assert!(Cli::try_parse_from(["xtask", "bench", "--board", "nope"]).is_err());
    }

    #[test]
    fn test_flags_conflict() {
        assert!(Cli::try_parse_from(["xtask", "test", "--host-only", "--qemu-only"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "test", "psci"]).expect("valid command line");
        let Command::Test(args) = cli.command else {
            panic!("expected test");
        };
        assert_eq!(args.filter.as_deref(), Some("psci"));
    }

    #[test]
    fn fuzz_defaults_to_the_layout_target() {
        let cli = Cli::try_parse_from(["xtask", "fuzz", "--runs", "10000000"])
            .expect("valid command line");
        let Command::Fuzz(args) = cli.command else {
            panic!("expected fuzz");
        };
        assert_eq!(args.target, fuzz::DEFAULT_TARGET);
        assert_eq!(args.runs, Some(10_000_000));
        assert_eq!(args.seconds, None);
        assert_eq!(args.jobs, 1);
        assert!(Cli::try_parse_from(["xtask", "fuzz", "--jobs", "0"]).is_err());
    }
}
