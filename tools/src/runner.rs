//! Boots one layout in QEMU: spawn, follow both UARTs, enforce the timeout; and `cargo xtask run`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bulkhead_scenarios::{CpuModel, Firmware, InputStep, Outcome};

use crate::artifacts::{self, target_dir, LoadedModule, ModuleSpec};
use crate::board::{self, Board};
use crate::{check, qemu, uboot};

/// How often the UART logs are polled while QEMU runs.
const POLL: Duration = Duration::from_millis(20);

/// Exit code of `cargo xtask run` when QEMU was killed at the timeout (as timeout(1)).
const TIMEOUT_EXIT: u8 = 124;

/// One QEMU boot.
pub struct Boot<'a> {
    pub kernel: &'a Path,
    pub dtb: &'a Path,
    pub modules: &'a [LoadedModule],
    /// Receives `uart0.log`, `uart1.log` and `qemu.log` (QEMU's own messages).
    pub log_dir: &'a Path,
    pub icount: bool,
    pub timeout: Duration,
    /// Print both UARTs to stdout as they arrive, prefixed `uart0| ` / `uart1| `.
    pub live: bool,
    pub cpu: CpuModel,
    pub board: Board,
    pub start: Start<'a>,
    /// What is typed on UART0 (Bulkhead's console input).
    pub input: Input<'a>,
}

/// What starts Bulkhead.
#[derive(Clone, Copy, Debug)]
pub enum Start<'a> {
    /// QEMU enters `kernel` at EL2 with x0 = `dtb` and places the modules.
    Direct,
    /// U-Boot as firmware loads `kernel` and the modules from a disk built
    /// in the log directory, applies `layout` (.dtso or .dtbo) to the
    /// board's DT itself and `booti`s Bulkhead; `dtb` is not used.
    UBoot { layout: &'a Path },
}

/// What a boot types on UART0.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// Nothing: UART0's receiver stays silent.
    None,
    /// A scenario's steps, each sent once its marker line arrived.
    Script(&'a [InputStep]),
    /// The user's terminal, in raw mode (`cargo xtask run`); Ctrl-] quits.
    Terminal,
}

/// The byte that ends `cargo xtask run`'s terminal session (Ctrl-]).
const QUIT_BYTE: u8 = 0x1d;

/// Sends a script's steps as their markers arrive.
struct Typist<'a> {
    steps: &'a [InputStep],
    next: usize,
}

impl Typist<'_> {
    /// Sends what the UART0 line `line` unlocks.
    fn line(&mut self, line: &str, fifo: &mut File) {
        if let Some(step) = self.steps.get(self.next) {
            if line.contains(step.after) {
                let _ = fifo.write_all(step.send);
                let _ = fifo.flush();
                self.next += 1;
            }
        }
    }
}

/// The terminal in raw mode until dropped (`stty`, on /dev/tty).
struct RawTerminal {
    saved: String,
}

impl RawTerminal {
    fn enter() -> Result<RawTerminal, String> {
        let stty = |args: &[&str]| -> Result<String, String> {
            let tty = File::open("/dev/tty").map_err(|e| format!("no terminal: {e}"))?;
            let output = Command::new("stty")
                .args(args)
                .stdin(tty)
                .output()
                .map_err(|e| format!("cannot run stty: {e}"))?;
            if !output.status.success() {
                return Err(format!("stty {} failed", args.join(" ")));
            }
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        };
        let saved = stty(&["-g"])?;
        stty(&["raw", "-echo"])?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Ok(tty) = File::open("/dev/tty") {
            let _ = Command::new("stty").arg(&self.saved).stdin(tty).status();
        }
    }
}

/// Creates the FIFO QEMU reads UART0's input from and opens it for
/// writing. Opened read-write, so neither side's open waits for the other.
fn input_fifo(path: &Path) -> Result<File, String> {
    let _ = std::fs::remove_file(path);
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .map_err(|e| format!("cannot run mkfifo: {e}"))?;
    if !status.success() {
        return Err(format!("mkfifo {} failed", path.display()));
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

/// Kills QEMU when dropped while it still runs, so no error path (or panic) leaves it behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Follows a growing log file, yielding complete lines.
struct Tail {
    file: File,
    offset: u64,
    partial: Vec<u8>,
}

impl Tail {
    fn open(path: &Path) -> Result<Self, String> {
        let file =
            File::open(path).map_err(|error| format!("cannot open {}: {error}", path.display()))?;
        Ok(Tail {
            file,
            offset: 0,
            partial: Vec::new(),
        })
    }

    /// New complete lines since the last call; with `flush`, also an unterminated last line.
    fn lines(&mut self, flush: bool) -> Vec<String> {
        let fresh = self.fresh();
        self.partial.extend_from_slice(&fresh);
        split_lines(&mut self.partial, flush)
    }

    /// The bytes written since the last call.
    fn fresh(&mut self) -> Vec<u8> {
        let mut fresh = Vec::new();
        if self.file.seek(SeekFrom::Start(self.offset)).is_ok() {
            if let Ok(read) = self.file.read_to_end(&mut fresh) {
                self.offset += read as u64;
            }
        }
        fresh
    }
}

/// Removes the complete lines from `buffer` (and the rest too if `flush`), without line ends.
fn split_lines(buffer: &mut Vec<u8>, flush: bool) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buffer.drain(..=end).collect();
        let text = String::from_utf8_lossy(&line[..end]);
        lines.push(text.trim_end_matches('\r').to_string());
    }
    if flush && !buffer.is_empty() {
        lines.push(
            String::from_utf8_lossy(buffer)
                .trim_end_matches('\r')
                .to_string(),
        );
        buffer.clear();
    }
    lines
}

/// Takes the new UART lines: printed if `live`, UART0's shown to `typist`.
fn follow(tails: &mut [Tail; 2], flush: bool, live: bool, typist: &mut Option<(Typist<'_>, File)>) {
    let mut stdout = std::io::stdout().lock();
    for (index, tail) in tails.iter_mut().enumerate() {
        for line in tail.lines(flush) {
            if index == 0 {
                if let Some((typist, fifo)) = typist.as_mut() {
                    typist.line(&line, fifo);
                }
            }
            if live {
                let _ = writeln!(stdout, "uart{index}| {line}");
            }
        }
    }
    let _ = stdout.flush();
}

/// Raw-terminal output: UART0 (Bulkhead's console, already tagged) byte
/// for byte, partial lines included; UART1's lines prefixed `uart1| `.
fn follow_terminal(tails: &mut [Tail; 2]) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&tails[0].fresh());
    for line in tails[1].lines(false) {
        let _ = write!(stdout, "uart1| {line}\r\n");
    }
    let _ = stdout.flush();
}

/// Boots, waits for QEMU to exit or the timeout, and returns what both UARTs printed.
pub fn boot(boot: &Boot<'_>) -> Result<Outcome, String> {
    let disk = crate::artifacts::pci_disk_image()?;
    let firmware_disk = match boot.start {
        Start::Direct => None,
        Start::UBoot { layout } => {
            std::fs::create_dir_all(boot.log_dir)
                .map_err(|error| format!("cannot create {}: {error}", boot.log_dir.display()))?;
            let overlay = board::compile_overlay(layout, boot.log_dir)?;
            let name = layout
                .file_stem()
                .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned());
            Some(uboot::build_disk(
                boot.kernel,
                &overlay,
                &name,
                boot.modules,
                boot.log_dir,
            )?)
        }
    };
    let loader = match &firmware_disk {
        None => qemu::Loader::Direct,
        Some(disk) => qemu::Loader::UBoot { disk },
    };
    spawn_and_follow(
        boot.log_dir,
        boot.timeout,
        boot.live,
        boot.input,
        |uart_logs: [PathBuf; 2], uart0_input: Option<PathBuf>| {
            qemu::boot_args(&qemu::BootConfig {
                kernel: boot.kernel,
                dtb: boot.dtb,
                modules: boot.modules,
                loader,
                uart_logs,
                uart0_input,
                icount: boot.icount,
                disk: &disk,
                cpu: boot.cpu,
                board: boot.board,
            })
        },
    )
}

/// Boots a guest bare on QEMU (no Bulkhead), for comparison benchmarks.
/// `config.uart_logs` is replaced by the logs of `log_dir`.
pub fn boot_bare(
    config: &qemu::BareConfig,
    log_dir: &Path,
    timeout: Duration,
) -> Result<Outcome, String> {
    spawn_and_follow(log_dir, timeout, false, Input::None, |uart_logs, _| {
        qemu::bare_args(&qemu::BareConfig {
            uart_logs,
            ..config.clone()
        })
    })
}

/// Runs QEMU with the arguments `args` builds for the two UART log files of
/// `log_dir`, follows the logs, and kills QEMU at `timeout`.
fn spawn_and_follow(
    log_dir: &Path,
    timeout: Duration,
    live: bool,
    input: Input<'_>,
    args: impl FnOnce([PathBuf; 2], Option<PathBuf>) -> Vec<String>,
) -> Result<Outcome, String> {
    std::fs::create_dir_all(log_dir)
        .map_err(|error| format!("cannot create {}: {error}", log_dir.display()))?;
    let uart_logs = [log_dir.join("uart0.log"), log_dir.join("uart1.log")];
    for log in &uart_logs {
        // Empty files now, so the tail can open them before QEMU does.
        File::create(log).map_err(|error| format!("cannot create {}: {error}", log.display()))?;
    }
    let qemu_log_path = log_dir.join("qemu.log");
    let qemu_log = File::create(&qemu_log_path)
        .map_err(|error| format!("cannot create {}: {error}", qemu_log_path.display()))?;
    let qemu_err = qemu_log
        .try_clone()
        .map_err(|error| format!("cannot share {}: {error}", qemu_log_path.display()))?;
    let input_path = log_dir.join("uart0.in");
    let fifo = match input {
        Input::None => None,
        Input::Script(_) | Input::Terminal => Some(input_fifo(&input_path)?),
    };
    let args = args(uart_logs.clone(), fifo.as_ref().map(|_| input_path.clone()));
    std::fs::write(log_dir.join("command.txt"), qemu::display(&args) + "\n")
        .map_err(|error| format!("cannot write the QEMU command line: {error}"))?;
    let child = Command::new(qemu::QEMU)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(qemu_log)
        .stderr(qemu_err)
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", qemu::QEMU))?;
    let mut child = ChildGuard(child);
    let mut tails = [Tail::open(&uart_logs[0])?, Tail::open(&uart_logs[1])?];
    let quit = Arc::new(AtomicBool::new(false));
    let (mut typist, _terminal) = match (input, fifo) {
        (Input::Script(steps), Some(fifo)) => (Some((Typist { steps, next: 0 }, fifo)), None),
        (Input::Terminal, Some(mut fifo)) => {
            let terminal = RawTerminal::enter()?;
            let quit = quit.clone();
            // Detached: it ends with the process (a read on stdin cannot be cancelled).
            std::thread::spawn(move || {
                let mut byte = [0u8; 1];
                let mut stdin = std::io::stdin().lock();
                while stdin.read_exact(&mut byte).is_ok() {
                    if byte[0] == QUIT_BYTE {
                        quit.store(true, Ordering::Release);
                        break;
                    }
                    if fifo.write_all(&byte).is_err() {
                        break;
                    }
                }
            });
            (None, Some(terminal))
        }
        _ => (None, None),
    };
    let terminal = _terminal.is_some();
    let started = Instant::now();
    let (status, timed_out) = loop {
        if terminal {
            follow_terminal(&mut tails);
        } else {
            follow(&mut tails, false, live, &mut typist);
        }
        if quit.load(Ordering::Acquire) {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break (None, false);
        }
        match child.0.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) => {}
            Err(error) => return Err(format!("cannot wait for QEMU: {error}")),
        }
        if started.elapsed() >= timeout {
            let _ = child.0.kill();
            let _ = child.0.wait();
            break (None, true);
        }
        std::thread::sleep(POLL);
    };
    if terminal {
        follow_terminal(&mut tails);
        drop(_terminal);
    } else {
        follow(&mut tails, true, live, &mut typist);
    }
    if live {
        let messages = std::fs::read_to_string(&qemu_log_path).unwrap_or_default();
        for line in messages.lines() {
            println!("qemu| {line}");
        }
    }
    let uart = [read_lossy(&uart_logs[0]), read_lossy(&uart_logs[1])];
    Ok(Outcome {
        uart,
        exit_code: status.and_then(|s: ExitStatus| s.code()),
        timed_out,
        check_errors: Vec::new(),
    })
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Resolves a layout path given relative to the repository root (as scenarios do).
pub fn repo_path(relative: &str) -> PathBuf {
    artifacts::repo_root().join(relative)
}

/// What `cargo xtask run` was asked to do.
pub struct RunRequest {
    pub layout: Option<PathBuf>,
    pub modules: Vec<ModuleSpec>,
    pub icount: bool,
    pub timeout_secs: u64,
    pub skip_check: bool,
    pub cpu: CpuModel,
    pub board: Board,
    pub firmware: Firmware,
    /// Leave the terminal alone: nothing is typed into Bulkhead's console.
    pub no_input: bool,
}

/// The default demo: its layout and modules come from the scenario named
/// [`bulkhead_scenarios::DEMO`], so the demo and its test cannot drift.
/// The demo's Linux partition in the layout (`tests-qemu/layouts/linux.dtso`).
const DEMO_LINUX_NODE: &str = "/chosen/bulkhead/partition@0";

fn default_demo() -> Result<(PathBuf, Vec<ModuleSpec>), String> {
    let scenario = bulkhead_scenarios::all()
        .into_iter()
        .find(|s| s.name == bulkhead_scenarios::DEMO)
        .ok_or_else(|| {
            format!(
                "no scenario named `{}` in tests-qemu/scenarios",
                bulkhead_scenarios::DEMO
            )
        })?;
    let modules = scenario
        .modules
        .iter()
        .map(ModuleSpec::from_module)
        .collect();
    Ok((repo_path(scenario.layout), modules))
}

/// `cargo xtask run`.
pub fn run_command(request: RunRequest) -> Result<ExitCode, String> {
    crate::setup::ensure()?;
    let demo = request.layout.is_none();
    let (layout, modules) = match request.layout {
        Some(layout) => (layout, request.modules),
        None => {
            let (layout, defaults) = default_demo()?;
            let modules = if request.modules.is_empty() {
                defaults
            } else {
                request.modules
            };
            (layout, modules)
        }
    };
    let work_dir = target_dir().join("run");
    let merged = board::merged_layout(&layout, None, request.board, request.cpu, &work_dir)?;
    let accepted = match check::validate_file(&merged)? {
        Ok(accepted) => {
            print!("{}", check::summary(&accepted));
            Some(accepted)
        }
        Err(lines) => {
            for line in &lines {
                println!("{line}");
            }
            if !request.skip_check {
                println!("refused by the host validator; not booting (--skip-check boots anyway)");
                return Ok(ExitCode::FAILURE);
            }
            println!("booting anyway (--skip-check)");
            None
        }
    };
    let kernel = artifacts::build_hypervisor()?;
    if artifacts::needs_guests(&modules) {
        artifacts::build_guests()?;
    }
    let loaded = artifacts::resolve_modules(&modules)?;
    if let Some(accepted) = &accepted {
        for warning in artifacts::check_modules_fit(&loaded, &accepted.layout)? {
            println!("{warning}");
        }
    }
    use std::io::IsTerminal;
    let input = if request.no_input || !std::io::stdin().is_terminal() {
        Input::None
    } else {
        println!(
            "xtask: the terminal is Bulkhead's console input: Ctrl-a three times switches partition, Ctrl-] quits (--no-input: no input)"
        );
        Input::Terminal
    };
    // The demo's Linux ends in a shell the user can type into, rather than
    // powering off after its workload (`bulkhead.shell`, read by /init).
    if demo && matches!(input, Input::Terminal) && request.firmware == Firmware::None {
        board::append_bootargs(&merged, DEMO_LINUX_NODE, "bulkhead.shell")?;
        println!("xtask: Linux ends in a shell on its console; `poweroff -f` in it powers it off");
    }
    let outcome = boot(&Boot {
        kernel: &kernel,
        dtb: &merged,
        modules: &loaded,
        log_dir: &work_dir,
        icount: request.icount,
        timeout: Duration::from_secs(request.timeout_secs),
        live: true,
        cpu: request.cpu,
        board: request.board,
        start: match request.firmware {
            Firmware::None => Start::Direct,
            Firmware::UBoot => Start::UBoot { layout: &layout },
        },
        input,
    })?;
    if outcome.timed_out {
        println!(
            "xtask: QEMU killed after {} s (--timeout)",
            request.timeout_secs
        );
        return Ok(ExitCode::from(TIMEOUT_EXIT));
    }
    Ok(match outcome.exit_code {
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_and_keep_partial() {
        let mut buffer = b"one\r\ntwo\nthr".to_vec();
        assert_eq!(split_lines(&mut buffer, false), ["one", "two"]);
        assert_eq!(buffer, b"thr");
        buffer.extend_from_slice(b"ee\n\xffx");
        assert_eq!(split_lines(&mut buffer, false), ["three"]);
        assert_eq!(split_lines(&mut buffer, true), ["\u{fffd}x"]);
        assert!(buffer.is_empty());
    }
}
