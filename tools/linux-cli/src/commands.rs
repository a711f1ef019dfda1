//! Runs a parsed command against the real devices and prints its result lines.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use bulkhead_abi::control as abi_control;

use crate::args::{Action, ChannelArgs, Command, Direction, Role, USAGE};
use crate::control::{self, ControlError};
use crate::counter;
use crate::hardware::{self, ChannelInfo, ConfigSpace, HardwareEndpoint, MappedBar};
use crate::sysfs::{self, PciFunction};
use crate::transfer::{self, Endpoint};

/// Where sysfs is mounted on the guest.
const SYSFS: &str = "/sys";

/// Runs `command`; an error is the one line to print after `bulkhead: `.
pub fn run(command: &Command) -> Result<(), String> {
    let root = Path::new(SYSFS);
    match command {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Ps => {
            let registers = open_control(root)?;
            let entries = control::read_table(&registers).map_err(|e| e.to_string())?;
            print_lines(&control::ps_lines(&entries));
            Ok(())
        }
        Command::Stats { partition } => {
            let registers = open_control(root)?;
            let entries = control::read_table(&registers).map_err(|e| e.to_string())?;
            let entry = control::find(&entries, partition)
                .ok_or_else(|| format!("unknown partition {partition}"))?;
            print_lines(&control::stats_lines(entry));
            Ok(())
        }
        Command::Lifecycle { action, partition } => lifecycle(root, *action, partition),
        Command::Channels => {
            let lines: Vec<String> = channel_infos(root)?.iter().map(channel_line).collect();
            print_lines(&lines);
            Ok(())
        }
        Command::Transfer {
            direction,
            endpoint,
            file,
        } => transfer_file(root, *direction, endpoint, file),
        Command::PingPong {
            role,
            endpoint,
            count,
        } => ping_pong(root, *role, endpoint, *count),
    }
}

fn print_lines(lines: &[String]) {
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        // A closed stdout is the reader's choice, not an error of ours.
        let _ = writeln!(stdout, "{line}");
    }
}

/// BAR0 of the control function, mapped for commands.
fn open_control(root: &Path) -> Result<MappedBar, String> {
    let functions = sysfs::scan(root).map_err(|e| e.to_string())?;
    let function = sysfs::matching(&functions, abi_control::VENDOR_ID, abi_control::DEVICE_ID)
        .into_iter()
        .next()
        .ok_or("no Bulkhead control function (this partition manages none)")?;
    ConfigSpace::open(&function)?.enable_memory()?;
    MappedBar::open(&function, 0, true)
}

fn lifecycle(root: &Path, action: Action, name: &str) -> Result<(), String> {
    let registers = open_control(root)?;
    let entries = control::read_table(&registers).map_err(|e| e.to_string())?;
    let entry = control::find(&entries, name).ok_or_else(|| format!("unknown partition {name}"))?;
    match control::run(&registers, action, entry.id) {
        Ok(value) => {
            print_lines(&[control::success_line(action, name, value)]);
            Ok(())
        }
        Err(error @ ControlError::BadMagic(_)) => Err(error.to_string()),
        Err(error) => Err(format!("{} {name}: {error}", action.name())),
    }
}

/// `0 results 1/2 1048576 rw 0000:00:1e.0`.
fn channel_line(info: &ChannelInfo) -> String {
    format!(
        "{} {} {}/{} {} {} {}",
        info.id,
        if info.label.is_empty() {
            "-"
        } else {
            &info.label
        },
        info.index,
        info.endpoints,
        info.size,
        if info.read_only { "ro" } else { "rw" },
        info.address
    )
}

fn channel_infos(root: &Path) -> Result<Vec<ChannelInfo>, String> {
    hardware::channel_functions(root)?
        .iter()
        .map(hardware::channel_info)
        .collect()
}

/// The endpoint function a CH names: a label first, else a decimal id.
fn find_channel(root: &Path, name: &str) -> Result<PciFunction, String> {
    let functions = hardware::channel_functions(root)?;
    let infos = functions
        .iter()
        .map(hardware::channel_info)
        .collect::<Result<Vec<_>, _>>()?;
    let by_label = infos.iter().position(|info| info.label == name);
    let by_id = || {
        let id = name.parse::<u32>().ok()?;
        infos.iter().position(|info| info.id == id)
    };
    by_label
        .or_else(by_id)
        .map(|index| functions[index].clone())
        .ok_or_else(|| format!("unknown channel {name}"))
}

/// Opens the endpoint `function` and picks the peer.
fn open_endpoint(
    root: &Path,
    function: &PciFunction,
    arguments: &ChannelArgs,
) -> Result<(HardwareEndpoint, u32), String> {
    let endpoint = HardwareEndpoint::open(root, function)?;
    let peer = transfer::choose_peer(endpoint.index(), endpoint.info.endpoints, arguments.peer)
        .map_err(|e| e.to_string())?;
    Ok((endpoint, peer))
}

fn transfer_file(
    root: &Path,
    direction: Direction,
    arguments: &ChannelArgs,
    file: &str,
) -> Result<(), String> {
    let verb = match direction {
        Direction::Send => "send",
        Direction::Receive => "recv",
    };
    let context = |message: String| format!("{verb} {}: {message}", arguments.channel);
    let function = find_channel(root, &arguments.channel)?;
    let (endpoint, peer) = open_endpoint(root, &function, arguments).map_err(context)?;
    let (line, to_stdout) = match direction {
        Direction::Send => {
            let summary = if file == "-" {
                transfer::send(&endpoint, peer, &mut std::io::stdin().lock())
            } else {
                let input = File::open(file)
                    .map_err(|error| context(format!("cannot open {file}: {error}")))?;
                transfer::send(&endpoint, peer, &mut BufReader::new(input))
            }
            .map_err(|e| context(e.to_string()))?;
            (transfer::summary_line("sent", summary), false)
        }
        Direction::Receive => {
            let summary = if file == "-" {
                transfer::receive(
                    &endpoint,
                    peer,
                    &mut BufWriter::new(std::io::stdout().lock()),
                )
            } else {
                let output = File::create(file)
                    .map_err(|error| context(format!("cannot create {file}: {error}")))?;
                transfer::receive(&endpoint, peer, &mut BufWriter::new(output))
            }
            .map_err(|e| context(e.to_string()))?;
            (transfer::summary_line("received", summary), file == "-")
        }
    };
    if to_stdout {
        // The data went to stdout; keep the summary out of it.
        eprintln!("{line}");
    } else {
        print_lines(&[line]);
    }
    Ok(())
}

fn ping_pong(root: &Path, role: Role, arguments: &ChannelArgs, count: u64) -> Result<(), String> {
    let verb = match role {
        Role::Ping => "ping",
        Role::Pong => "pong",
    };
    let context = |message: String| format!("{verb} {}: {message}", arguments.channel);
    let function = find_channel(root, &arguments.channel)?;
    let (endpoint, peer) = open_endpoint(root, &function, arguments).map_err(context)?;
    match role {
        Role::Ping => {
            let ticks = transfer::ping(&endpoint, peer, count, counter::ticks)
                .map_err(|e| context(e.to_string()))?;
            let mut lines = vec![format!("ping {count} round trips ok")];
            if let (Some(ticks), Some(frequency)) = (ticks, counter::frequency()) {
                lines.push(format!(
                    "ping avg_ticks={} cntfrq={frequency}",
                    ticks / count
                ));
            }
            print_lines(&lines);
        }
        Role::Pong => {
            transfer::pong(&endpoint, peer, count).map_err(|e| context(e.to_string()))?;
            print_lines(&[format!("pong {count} answered")]);
        }
    }
    Ok(())
}
