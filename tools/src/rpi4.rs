//! The Raspberry Pi 4 on QEMU raspi4b: its board DTB (Debian's, completed by QEMU), `run` and `test` there.
//!
//! QEMU generates no DT for raspi4b. The board DT is Debian's own
//! `broadcom/bcm2711-rpi-4-b.dtb` from `linux-image-<version>-arm64` (the
//! same kernel version as the cloud kernel the demo boots), downloaded once
//! with `apt-get download` into `target/board/rpi4/`, then handed to QEMU,
//! which fills in its memory node and removes devices it does not model;
//! that completed DTB (dumped with `dumpdtb=`) is what Bulkhead receives and
//! what the layout is merged onto and checked against.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use bulkhead_scenarios::{Outcome, Scenario};

use crate::artifacts::{self, run_checked, target_dir, LoadedModule, ModuleSpec};
use crate::boards::BoardName;
use crate::{board, check, linux, qemu, runner};

/// Where the Debian package and the board DTBs are kept.
fn dir() -> PathBuf {
    target_dir().join("board").join("rpi4")
}

/// The board DT inside Debian's arm64 kernel package.
fn dtb_in_package() -> String {
    format!(
        "./usr/lib/linux-image-{}-arm64/broadcom/bcm2711-rpi-4-b.dtb",
        linux::KERNEL_VERSION
    )
}

/// What Bulkhead prints last on a board without PSCI firmware nor a power
/// watchdog in its DT: nothing follows, so the boot is over (QEMU itself
/// would run on). With the watchdog, QEMU raspi4b shuts down by itself.
const HALTED: &str = "no PSCI firmware to power the machine off; halting";

/// Debian's `bcm2711-rpi-4-b.dtb`, as shipped (memory node empty).
pub fn debian_dtb() -> Result<PathBuf, String> {
    let dir = dir();
    let dtb = dir.join("bcm2711-rpi-4-b.dtb");
    if dtb.is_file() {
        return Ok(dtb);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let package = format!("linux-image-{}-arm64:arm64", linux::KERNEL_VERSION);
    println!("setup: downloading {package} (for bcm2711-rpi-4-b.dtb)");
    let download = || {
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(&dir)
            .status()
            .is_ok_and(|status| status.success())
    };
    if !download() {
        crate::setup::apt(&["update"])?;
        if !download() {
            return Err(format!("apt-get download {package} failed"));
        }
    }
    let deb = std::fs::read_dir(&dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .ok_or_else(|| format!("apt-get download left no .deb in {}", dir.display()))?;
    // Only the one file: the package's data is a tar inside the .deb.
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xO '{}' > '{}'",
        deb.display(),
        dtb_in_package(),
        dtb.display()
    );
    run_checked(
        Command::new("sh").args(["-c", &script]),
        "unpacking bcm2711-rpi-4-b.dtb",
    )
    .inspect_err(|_| {
        let _ = std::fs::remove_file(&dtb);
    })?;
    Ok(dtb)
}

/// The board DTB as QEMU raspi4b hands it to its kernel, dumped once and
/// cached (re-dumped when the QEMU version changes).
pub fn board_dtb() -> Result<PathBuf, String> {
    let source = debian_dtb()?;
    let dir = dir();
    let out = dir.join("rpi4.dtb");
    let stamp_path = dir.join("rpi4.stamp");
    // QEMU dumps the DT it would boot a kernel with: any file will do.
    let placeholder = dir.join("placeholder.bin");
    if !placeholder.is_file() {
        std::fs::write(&placeholder, [0u8; 4096])
            .map_err(|error| format!("cannot write {}: {error}", placeholder.display()))?;
    }
    let args = qemu::raspi4b_dumpdtb_args(&source, &placeholder, &out);
    let version = Command::new(qemu::QEMU)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let stamp = format!("{version}{}\n", qemu::display(&args));
    if out.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        return Ok(out);
    }
    let output = Command::new(qemu::QEMU)
        .args(&args)
        .output()
        .map_err(|error| format!("cannot run {}: {error}", qemu::QEMU))?;
    if !output.status.success() || !out.is_file() {
        return Err(format!(
            "dumping the raspi4b board DTB failed: {}\n{}",
            qemu::display(&args),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(&stamp_path, stamp)
        .map_err(|error| format!("cannot write {}: {error}", stamp_path.display()))?;
    Ok(out)
}

/// One boot on raspi4b: follows UART0 (printing it live if asked) until
/// QEMU exits, Bulkhead halts for good, or `timeout` passes.
fn boot(
    kernel: &Path,
    dtb: &Path,
    modules: &[LoadedModule],
    log_dir: &Path,
    timeout: Duration,
    live: bool,
) -> Result<Outcome, String> {
    std::fs::create_dir_all(log_dir)
        .map_err(|error| format!("cannot create {}: {error}", log_dir.display()))?;
    let logs = [log_dir.join("uart0.log"), log_dir.join("uart1.log")];
    for log in &logs {
        std::fs::write(log, b"")
            .map_err(|error| format!("cannot reset {}: {error}", log.display()))?;
    }
    let args = qemu::raspi4b_boot_args(kernel, dtb, modules, &logs);
    std::fs::write(log_dir.join("command.txt"), qemu::display(&args) + "\n")
        .map_err(|error| format!("cannot write command.txt: {error}"))?;
    let qemu_log = std::fs::File::create(log_dir.join("qemu.log"))
        .map_err(|error| format!("cannot create qemu.log: {error}"))?;
    let mut child = Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(qemu_log)
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", qemu::QEMU))?;
    let started = Instant::now();
    let mut uart0 = String::new();
    let mut offset = 0u64;
    let mut pending = String::new();
    let mut outcome = Outcome::default();
    loop {
        let exited = child
            .try_wait()
            .map_err(|error| format!("waiting for QEMU: {error}"))?;
        if let Ok(mut file) = std::fs::File::open(&logs[0]) {
            let mut bytes = Vec::new();
            if file.seek(SeekFrom::Start(offset)).is_ok() && file.read_to_end(&mut bytes).is_ok() {
                offset += bytes.len() as u64;
                pending.push_str(&String::from_utf8_lossy(&bytes));
                while let Some(end) = pending.find('\n') {
                    let line: String = pending.drain(..=end).collect();
                    if live {
                        print!("uart0| {line}");
                    }
                    uart0.push_str(&line);
                }
            }
        }
        if let Some(status) = exited {
            outcome.exit_code = status.code();
            break;
        }
        if uart0.contains(HALTED) {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            outcome.timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    uart0.push_str(&pending);
    outcome.uart = [uart0, std::fs::read_to_string(&logs[1]).unwrap_or_default()];
    Ok(outcome)
}

/// Merges `layout` onto the rpi4 board DTB in `work_dir` and validates it
/// against the rpi4's reserved areas: the merged DTB and the refusal lines.
fn prepare(layout: &Path, work_dir: &Path) -> Result<(PathBuf, Vec<String>), String> {
    let merged = board::merged_layout(
        layout,
        Some(&board_dtb()?),
        board::Board::Rpi4,
        bulkhead_scenarios::CpuModel::CortexA72,
        work_dir,
    )?;
    let errors = match check::validate_file_for(&merged, BoardName::Rpi4.platform())? {
        Ok(accepted) => {
            print!("{}", check::summary(&accepted));
            Vec::new()
        }
        Err(lines) => lines,
    };
    Ok((merged, errors))
}

fn modules_of(scenario: &Scenario) -> Vec<ModuleSpec> {
    scenario
        .modules
        .iter()
        .map(ModuleSpec::from_module)
        .collect()
}

/// `cargo xtask run --board rpi4`: the rpi4 demo layout (or `layout` with
/// `modules`) on QEMU raspi4b, UART0 printed live.
pub fn run_command(
    layout: Option<PathBuf>,
    modules: Vec<ModuleSpec>,
    timeout: Duration,
    skip_check: bool,
) -> Result<ExitCode, String> {
    crate::setup::ensure()?;
    let demo = bulkhead_scenarios::boards::demo("rpi4")
        .ok_or("no rpi4 scenario is declared (tests-qemu/scenarios/src/boards.rs)")?;
    let (layout, modules) = match layout {
        Some(layout) => (layout, modules),
        None if modules.is_empty() => (runner::repo_path(demo.layout), modules_of(&demo)),
        None => (runner::repo_path(demo.layout), modules),
    };
    let work_dir = target_dir().join("run-rpi4");
    let (merged, errors) = prepare(&layout, &work_dir)?;
    if !errors.is_empty() {
        for line in &errors {
            println!("{line}");
        }
        if !skip_check {
            println!("refused by the host validator; not booting (--skip-check boots anyway)");
            return Ok(ExitCode::FAILURE);
        }
    }
    let kernel = artifacts::build_hypervisor_for(BoardName::Rpi4)?;
    if artifacts::needs_guests(&modules) {
        artifacts::build_guests()?;
    }
    let loaded = artifacts::resolve_modules(&modules)?;
    let outcome = boot(&kernel, &merged, &loaded, &work_dir, timeout, true)?;
    if outcome.timed_out {
        println!(
            "xtask: QEMU killed after {} s (--timeout)",
            timeout.as_secs()
        );
        return Ok(ExitCode::from(124));
    }
    // Without PSCI the machine halts rather than powering off: a run went
    // well if it halted because every partition was off.
    let all_off = outcome.uart[0].contains("all partitions are off");
    Ok(match outcome.exit_code {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None if all_off => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    })
}

/// The rpi4 scenarios of `cargo xtask test --board rpi4 [FILTER]`, one at a time.
pub fn test_scenarios(filter: Option<&str>) -> Result<ExitCode, String> {
    crate::setup::ensure()?;
    let scenarios: Vec<Scenario> = bulkhead_scenarios::boards::scenarios("rpi4")
        .into_iter()
        .filter(|scenario| crate::test::selected(scenario.name, filter))
        .collect();
    if scenarios.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!("== {} rpi4 QEMU scenario(s) (raspi4b)", scenarios.len());
    let kernel = artifacts::build_hypervisor_for(BoardName::Rpi4)?;
    artifacts::build_guests()?;
    let mut failed = 0;
    for scenario in &scenarios {
        let started = Instant::now();
        let log_dir = target_dir().join("scenarios").join(scenario.name);
        let (merged, check_errors) = prepare(&runner::repo_path(scenario.layout), &log_dir)?;
        let loaded = artifacts::resolve_modules(&modules_of(scenario))?;
        let mut outcome = boot(
            &kernel,
            &merged,
            &loaded,
            &log_dir,
            Duration::from_secs(scenario.timeout_secs),
            false,
        )?;
        outcome.check_errors = check_errors;
        match (scenario.check)(&outcome) {
            Ok(()) => println!(
                "PASS {} ({:.1} s)",
                scenario.name,
                started.elapsed().as_secs_f64()
            ),
            Err(reason) => {
                failed += 1;
                println!("FAIL {}: {reason}", scenario.name);
                crate::test::print_tails(&outcome, &log_dir);
            }
        }
    }
    println!(
        "scenarios: {} passed, {failed} failed",
        scenarios.len() - failed
    );
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
    fn raspi4b_line_has_machine_dtb_uarts_and_modules() {
        let modules = [LoadedModule {
            address: 0x0f00_0000,
            path: PathBuf::from("/g/ticker.bin"),
        }];
        let logs = [PathBuf::from("/w/uart0.log"), PathBuf::from("/w/uart1.log")];
        let line = qemu::display(&qemu::raspi4b_boot_args(
            Path::new("/i/bulkhead-rpi4.bin"),
            Path::new("/w/merged.dtb"),
            &modules,
            &logs,
        ));
        assert_eq!(
            line,
            "qemu-system-aarch64 -M raspi4b -display none -monitor none \
             -serial file:/w/uart0.log -serial file:/w/uart1.log \
             -kernel /i/bulkhead-rpi4.bin -dtb /w/merged.dtb \
             -device loader,file=/g/ticker.bin,addr=0xf000000,force-raw=on"
        );
        // RAM and cores are the machine's own: raspi4b refuses other values.
        assert!(!line.contains("-m ") && !line.contains("-smp"));
    }

    #[test]
    fn the_dtb_comes_from_the_demo_kernel_version() {
        assert!(dtb_in_package().contains(linux::KERNEL_VERSION));
        assert!(dtb_in_package().ends_with("/broadcom/bcm2711-rpi-4-b.dtb"));
    }
}
