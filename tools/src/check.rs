//! `cargo xtask check`: the hypervisor's own layout validator, run on the host.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use bulkhead_core::address::PhysRange;
use bulkhead_core::config::{parse_board, parse_layout, Board, Layout};
use bulkhead_platform::Platform;

use crate::artifacts::target_dir;
use crate::board;

/// A layout the validator accepted, with the board it was checked against.
pub struct Accepted {
    pub board: Board,
    pub layout: Layout,
}

/// Validates a merged DTB exactly as the hypervisor built for `platform`
/// does at boot. On refusal, returns the lines to print (`layout error:
/// node: property: reason`).
pub fn validate_for(merged_dtb: &[u8], platform: &Platform) -> Result<Accepted, Vec<String>> {
    let board = parse_board(merged_dtb).map_err(|error| vec![format!("board error: {error}")])?;
    let reserved = PhysRange::new(platform.reserved_start, platform.reserved_size);
    let hypervisor = PhysRange::new(platform.reserved_start, platform.hypervisor_size);
    match parse_layout(merged_dtb, &board, reserved, hypervisor) {
        Ok(layout) => Ok(Accepted { board, layout }),
        Err(errors) => Err(errors.iter().map(ToString::to_string).collect()),
    }
}

/// Reads and validates a merged DTB file (QEMU virt).
pub fn validate_file(merged: &Path) -> Result<Result<Accepted, Vec<String>>, String> {
    validate_file_for(merged, &bulkhead_platform::qemu_virt::PLATFORM)
}

/// Reads and validates a merged DTB file against `platform`.
pub fn validate_file_for(
    merged: &Path,
    platform: &Platform,
) -> Result<Result<Accepted, Vec<String>>, String> {
    let bytes = std::fs::read(merged)
        .map_err(|error| format!("cannot read {}: {error}", merged.display()))?;
    Ok(validate_for(&bytes, platform))
}

/// `1 GiB`, `256 MiB`, `4 KiB` or bytes: sizes as people read them.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return format!("{} {name}", bytes / unit);
        }
    }
    format!("{bytes} bytes")
}

/// What an accepted layout gives each partition.
pub fn summary(accepted: &Accepted) -> String {
    let Accepted { board, layout } = accepted;
    let mut text = String::new();
    let count = layout.partitions.len();
    let _ = writeln!(
        text,
        "layout ok: {count} partition{}",
        if count == 1 { "" } else { "s" }
    );
    for partition in &layout.partitions {
        let _ = writeln!(
            text,
            "partition {} ({}) {}",
            partition.id, partition.label, partition.node
        );
        let cpus: Vec<String> = partition
            .cpus
            .iter()
            .enumerate()
            .map(|(vcpu, &cpu)| match board.cpus.get(cpu) {
                Some(board_cpu) => {
                    format!("vcpu {vcpu} = cpu {cpu} (mpidr {:#x})", board_cpu.mpidr)
                }
                None => format!("vcpu {vcpu} = cpu {cpu}"),
            })
            .collect();
        let _ = writeln!(text, "  cpus: {}", cpus.join(", "));
        let _ = writeln!(
            text,
            "  memory: {} in total",
            human_size(partition.memory_bytes())
        );
        for region in &partition.memory {
            let _ = writeln!(
                text,
                "    PA {:#x} -> IPA {:#x}, {:#x} ({})",
                region.pa.0,
                region.ipa.0,
                region.size,
                human_size(region.size)
            );
        }
        if partition.devices.is_empty() {
            let _ = writeln!(text, "  devices: none");
        }
        for device in &partition.devices {
            let regs: Vec<String> = device
                .regs
                .iter()
                .map(|r| format!("{:#x}+{:#x}", r.start.0, r.size))
                .collect();
            let interrupts: Vec<String> = device.interrupts.iter().map(u32::to_string).collect();
            let _ = writeln!(
                text,
                "  device {}: mmio [{}] intids [{}]",
                device.path,
                regs.join(", "),
                interrupts.join(", ")
            );
        }
        for function in &partition.pci_functions {
            let _ = writeln!(
                text,
                "  pci function {} behind {}: INTx intid {} if its pin is INTA, stream {}; BARs assigned at boot",
                function.address,
                function.host,
                function
                    .interrupt
                    .map_or_else(|| "none".to_string(), |intid| intid.to_string()),
                function
                    .stream
                    .map_or_else(|| "none".to_string(), |stream| format!("{stream:#x}")),
            );
        }
        if partition.dma_capable() {
            let _ = writeln!(text, "  on-dma-fault: {:?}", partition.on_dma_fault);
        }
        let _ = writeln!(
            text,
            "  stage2-fault: {} (an access outside the map {})",
            partition.stage2_fault.name(),
            match partition.stage2_fault {
                bulkhead_core::config::Stage2Fault::Deliver =>
                    "is a synchronous external abort for the guest",
                bulkhead_core::config::Stage2Fault::Stop => "is reported, then on-fault applies",
            }
        );
        for channel in &partition.channels {
            let _ = writeln!(
                text,
                "  channel {} ({}): endpoint {} of {}, IPA {:#x}, {}{}, doorbell intid {}, PCI device {}",
                channel.id,
                channel.label,
                channel.index,
                channel.peers.len(),
                channel.ipa.0,
                human_size(channel.size),
                if channel.read_only { ", read-only" } else { "" },
                bulkhead_core::config::virtual_pci::channel_doorbell_intid(channel.slot),
                bulkhead_core::config::virtual_pci::channel_device(channel.slot),
            );
        }
        if !partition.manages.is_empty() {
            let managed: Vec<String> = partition.manages.iter().map(u32::to_string).collect();
            let _ = writeln!(
                text,
                "  manages: {} (control function at PCI device {})",
                managed.join(", "),
                bulkhead_core::config::virtual_pci::CONTROL_DEVICE
            );
        }
        let _ = writeln!(
            text,
            "  kernel: PA {:#x}, {:#x} bytes, entered at IPA {:#x}",
            partition.kernel.pa.0, partition.kernel.size, partition.load_address.0
        );
    }
    for channel in &layout.channels {
        let endpoints: Vec<String> = channel
            .endpoints
            .iter()
            .map(|endpoint| endpoint.partition.to_string())
            .collect();
        let _ = writeln!(
            text,
            "channel {} ({}) {}: PA {:#x}, {}, endpoints {}",
            channel.id,
            channel.label,
            channel.node,
            channel.pa.0,
            human_size(channel.size),
            endpoints.join(", ")
        );
    }
    text
}

/// Which board `cargo xtask check` merges the layout onto.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardChoice {
    /// A known board's DTB, dumped from QEMU.
    Named(board::Board),
    /// Any board's DTB file.
    File(std::path::PathBuf),
}

impl BoardChoice {
    /// A known board name, or else a DTB path.
    pub fn parse(text: &str) -> Result<BoardChoice, String> {
        Ok(match board::Board::from_name(text) {
            Some(named) => BoardChoice::Named(named),
            None => BoardChoice::File(text.into()),
        })
    }
}

/// `cargo xtask check FILE [--board NAME|BOARD.dtb]`: a board name validates
/// against that board's DTB (as `cargo xtask run` boots it) and its reserved
/// areas, a DTB file against QEMU virt's reserved areas.
pub fn check_command(layout: &Path, choice: &BoardChoice) -> Result<ExitCode, String> {
    crate::setup::ensure()?;
    let (file, named) = match choice {
        BoardChoice::Named(named) => (None, *named),
        BoardChoice::File(file) => (Some(file.clone()), board::Board::default()),
    };
    let file = match (file, named) {
        (None, board::Board::Rpi4) => Some(crate::rpi4::board_dtb()?),
        (file, _) => file,
    };
    let merged = board::merged_layout(
        layout,
        file.as_deref(),
        named,
        bulkhead_scenarios::CpuModel::CortexA72,
        &target_dir().join("check"),
    )?;
    match validate_file_for(&merged, named.build().platform())? {
        Ok(accepted) => {
            print!("{}", summary(&accepted));
            Ok(ExitCode::SUCCESS)
        }
        Err(lines) => {
            for line in lines {
                println!("{line}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(0x1000_0000), "256 MiB");
        assert_eq!(human_size(0x4000_0000), "1 GiB");
        assert_eq!(human_size(0x1000), "4 KiB");
        assert_eq!(human_size(0x1800), "6 KiB");
        assert_eq!(human_size(100), "100 bytes");
    }

    #[test]
    fn garbage_is_refused_not_panicked_on() {
        let lines = match validate_for(
            b"not a device tree",
            &bulkhead_platform::qemu_virt::PLATFORM,
        ) {
            Err(lines) => lines,
            Ok(_) => panic!("garbage accepted"),
        };
        assert_eq!(lines.len(), 1);
    }
}
