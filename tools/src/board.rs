//! The boards Bulkhead boots on, their DTBs (dumped from QEMU, cached) and merging a layout overlay onto one.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_scenarios::CpuModel;

use crate::artifacts::target_dir;
use crate::qemu;

/// A board `cargo xtask` can build for, boot and test on. One hypervisor
/// image serves them all (it reads the board from its DT); what differs is
/// the QEMU machine and so the DT it generates. A new board is one more entry
/// here and in [`Board::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Board {
    /// QEMU `virt` with a GICv3 (and its ITS) and an SMMUv3.
    #[default]
    QemuVirt,
    /// QEMU `virt` with a GICv2 (GICH/GICV for virtualization, a GICv2m
    /// MSI frame instead of the ITS) and an SMMUv3.
    QemuVirtGicv2,
}

impl Board {
    pub const ALL: [Board; 2] = [Board::QemuVirt, Board::QemuVirtGicv2];

    /// The name `--board` takes and run names and directories carry.
    pub const fn name(self) -> &'static str {
        match self {
            Board::QemuVirt => "qemu-virt",
            Board::QemuVirtGicv2 => "qemu-virt-gicv2",
        }
    }

    pub fn from_name(name: &str) -> Option<Board> {
        Board::ALL.into_iter().find(|board| board.name() == name)
    }

    /// QEMU's `-M` value for a boot under Bulkhead (EL2 available, SMMU).
    pub const fn machine(self) -> &'static str {
        match self {
            Board::QemuVirt => "virt,virtualization=on,gic-version=3,iommu=smmuv3",
            Board::QemuVirtGicv2 => "virt,virtualization=on,gic-version=2,iommu=smmuv3",
        }
    }

    /// QEMU's `-M` value for a bare comparison boot: no `virtualization=on`,
    /// so the guest runs at EL1; no SMMU, so DMA is untranslated; the ECAM
    /// below 4 GiB (0x3f00_0000), where Bulkhead puts a partition's virtual
    /// one, so the same PCI test guest finds its functions both ways.
    pub const fn bare_machine(self) -> &'static str {
        match self {
            Board::QemuVirt => "virt,gic-version=3,highmem-ecam=off",
            Board::QemuVirtGicv2 => "virt,gic-version=2,highmem-ecam=off",
        }
    }
}

impl std::fmt::Display for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the default `cargo xtask test` boots the GICv2 subset on the
/// GICv2 board and `cargo xtask bench` adds its GICv2 figures (switch off
/// should a change break the GICv2 path until it is mended; `--board
/// qemu-virt-gicv2` reaches the board regardless).
pub const GICV2_IN_DEFAULT_RUNS: bool = true;

/// `--board NAME` for clap, listing the known names when it fails.
pub fn parse_board_name(name: &str) -> Result<Board, String> {
    Board::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = Board::ALL.iter().map(|board| board.name()).collect();
        format!("unknown board `{name}` (known: {})", known.join(", "))
    })
}

/// Where the dumped board DTBs are cached.
fn board_dir() -> PathBuf {
    target_dir().join("board")
}

/// The DTB of `board` for exactly the machine we boot (with `cpu`), dumped
/// once and cached in `target/board/` (re-dumped when the QEMU version or
/// options change).
pub fn board_dtb(board: Board, cpu: CpuModel) -> Result<PathBuf, String> {
    let dir = board_dir();
    let dtb = dir.join(format!("{}-{}.dtb", board.name(), cpu.name()));
    let stamp_path = dir.join(format!("{}-{}.stamp", board.name(), cpu.name()));
    let args = qemu::dumpdtb_args(&dtb, board, cpu);
    let version = Command::new(qemu::QEMU)
        .arg("--version")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let stamp = format!("{version}{}\n", qemu::display(&args));
    if dtb.is_file() && std::fs::read_to_string(&stamp_path).is_ok_and(|old| old == stamp) {
        return Ok(dtb);
    }
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    let output = Command::new(qemu::QEMU)
        .args(&args)
        .output()
        .map_err(|error| format!("cannot run {}: {error}", qemu::QEMU))?;
    if !output.status.success() || !dtb.is_file() {
        return Err(format!(
            "dumping the board DTB failed: {}\n{}",
            qemu::display(&args),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::write(&stamp_path, stamp)
        .map_err(|error| format!("cannot write {}: {error}", stamp_path.display()))?;
    Ok(dtb)
}

/// Runs a device-tree tool, failing with its stderr.
/// Appends `word` to the `bootargs` of `node` in the DTB file `dtb`, in place.
pub fn append_bootargs(dtb: &Path, node: &str, word: &str) -> Result<(), String> {
    let output = Command::new("fdtget")
        .arg(dtb)
        .args([node, "bootargs"])
        .output()
        .map_err(|error| format!("cannot run fdtget: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "fdtget {node} bootargs failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    let bootargs = format!("{} {word}", String::from_utf8_lossy(&output.stdout).trim());
    run_tool(
        Command::new("fdtput")
            .args(["-t", "s"])
            .arg(dtb)
            .args([node, "bootargs", &bootargs]),
        "fdtput",
    )
}

pub(crate) fn run_tool(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|error| format!("{what}: cannot run {:?}: {error}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ))
    }
}

/// A compiled overlay: `.dtbo`/`.dtb` files are taken as they are, anything
/// else is compiled as source with `dtc -@` (symbols, so fragments can refer to labels).
pub fn compile_overlay(layout: &Path, work_dir: &Path) -> Result<PathBuf, String> {
    if !layout.is_file() {
        return Err(format!("layout {} does not exist", layout.display()));
    }
    let compiled = matches!(
        layout.extension().and_then(|e| e.to_str()),
        Some("dtbo" | "dtb")
    );
    if compiled {
        return Ok(layout.to_path_buf());
    }
    let out = work_dir.join("layout.dtbo");
    run_tool(
        Command::new("dtc")
            .args(["-@", "-q", "-I", "dts", "-O", "dtb", "-o"])
            .arg(&out)
            .arg(layout),
        &format!("compiling {}", layout.display()),
    )?;
    Ok(out)
}

/// `fdtoverlay -i board -o merged overlay`.
pub fn merge(board: &Path, overlay: &Path, merged: &Path) -> Result<(), String> {
    run_tool(
        Command::new("fdtoverlay")
            .arg("-i")
            .arg(board)
            .arg("-o")
            .arg(merged)
            .arg(overlay),
        &format!("merging {} onto {}", overlay.display(), board.display()),
    )
}

/// Compiles `layout` if needed and merges it onto the DTB `board_file`
/// (default: `board`'s, dumped for `cpu`), leaving `merged.dtb` in `work_dir`.
pub fn merged_layout(
    layout: &Path,
    board_file: Option<&Path>,
    board: Board,
    cpu: CpuModel,
    work_dir: &Path,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(work_dir)
        .map_err(|error| format!("cannot create {}: {error}", work_dir.display()))?;
    let board = match board_file {
        Some(file) => file.to_path_buf(),
        None => board_dtb(board, cpu)?,
    };
    let overlay = compile_overlay(layout, work_dir)?;
    let merged = work_dir.join("merged.dtb");
    merge(&board, &overlay, &merged)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_the_gic_differs() {
        for board in Board::ALL {
            assert_eq!(Board::from_name(board.name()), Some(board));
            assert_eq!(parse_board_name(board.name()), Ok(board));
        }
        assert_eq!(Board::default(), Board::QemuVirt);
        assert!(parse_board_name("rpi5").is_err_and(|e| e.contains("qemu-virt-gicv2")));
        let v3 = Board::QemuVirt.machine().replace("gic-version=3", "");
        let v2 = Board::QemuVirtGicv2.machine().replace("gic-version=2", "");
        assert_eq!(v3, v2);
        assert!(Board::QemuVirtGicv2
            .bare_machine()
            .contains("gic-version=2"));
    }
}
