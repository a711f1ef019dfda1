//! `cargo xtask`: Bulkhead's host command line (build, run, check, test, bench).
//!
//! This file only parses arguments and dispatches; each command lives in its
//! own module. QEMU command lines are built in [`qemu`] and nowhere else.

mod artifacts;
mod bench;
mod board;
mod check;
mod linux;
mod qemu;
mod runner;
mod setup;
mod test;

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
    /// Build the hypervisor and every guest, and objcopy them to raw images under target/images.
    Build,
    /// Build, validate a layout on the host, and boot it in QEMU, printing both UARTs live.
    Run(RunArgs),
    /// Validate a layout overlay against a board DTB, as the hypervisor would at boot.
    Check(CheckArgs),
    /// Run the host unit tests, then boot every QEMU scenario and check what it printed.
    Test(TestArgs),
    /// Boot every benchmark under icount and write target/bench/results.json.
    Bench(BenchArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
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
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Layout overlay: a .dtso source (compiled with dtc) or a compiled .dtbo.
    #[arg(value_name = "FILE")]
    layout: PathBuf,
    /// Board DTB to merge the overlay onto; default: QEMU virt as `cargo xtask run` boots it.
    #[arg(long, value_name = "BOARD.dtb")]
    board: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct TestArgs {
    /// Only boot scenarios whose name contains this text.
    #[arg(value_name = "FILTER")]
    filter: Option<String>,
    /// Run the host unit tests only (no QEMU).
    #[arg(long, conflicts_with = "qemu_only")]
    host_only: bool,
    /// Boot the QEMU scenarios only (skip the host unit tests).
    #[arg(long)]
    qemu_only: bool,
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Only run benchmarks whose name contains this text.
    #[arg(value_name = "FILTER")]
    filter: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build => artifacts::build_all().map(|_| ExitCode::SUCCESS),
        Command::Run(args) => runner::run_command(runner::RunRequest {
            layout: args.layout,
            modules: args.modules,
            icount: args.icount,
            timeout_secs: args.timeout,
            skip_check: args.skip_check,
        }),
        Command::Check(args) => check::check_command(&args.layout, args.board.as_deref()),
        Command::Test(args) => test::test_command(test::TestRequest {
            filter: args.filter,
            host: !args.qemu_only,
            qemu: !args.host_only,
        }),
        Command::Bench(args) => bench::bench_command(args.filter.as_deref()),
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
}
