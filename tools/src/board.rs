//! The board DTB (dumped from QEMU, cached) and merging a layout overlay onto it.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_scenarios::CpuModel;

use crate::artifacts::target_dir;
use crate::qemu;

/// Where the dumped QEMU virt DTB is cached.
fn board_dir() -> PathBuf {
    target_dir().join("board")
}

/// The QEMU virt board DTB for exactly the machine we boot (with `cpu`),
/// dumped once and cached in `target/board/` (re-dumped when the QEMU
/// version or options change).
pub fn default_board(cpu: CpuModel) -> Result<PathBuf, String> {
    let dir = board_dir();
    let dtb = dir.join(format!("qemu-virt-{}.dtb", cpu.name()));
    let stamp_path = dir.join(format!("qemu-virt-{}.stamp", cpu.name()));
    let args = qemu::dumpdtb_args(&dtb, cpu);
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

/// Compiles `layout` if needed and merges it onto `board` (default: QEMU virt),
/// leaving `merged.dtb` in `work_dir`.
pub fn merged_layout(
    layout: &Path,
    board: Option<&Path>,
    cpu: CpuModel,
    work_dir: &Path,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(work_dir)
        .map_err(|error| format!("cannot create {}: {error}", work_dir.display()))?;
    let board = match board {
        Some(board) => board.to_path_buf(),
        None => default_board(cpu)?,
    };
    let overlay = compile_overlay(layout, work_dir)?;
    let merged = work_dir.join("merged.dtb");
    merge(&board, &overlay, &merged)?;
    Ok(merged)
}
