//! Installs what the build and QEMU runs need, only if it is missing.

use std::process::Command;

use crate::artifacts::{run_checked, HYPERVISOR_TARGET, TARGET};

/// Oldest QEMU whose `virt` machine behaves as the scenarios expect.
const MIN_QEMU_MAJOR: u32 = 10;

/// Makes sure the Rust targets (the guests', the hypervisor's soft-float one
/// and the Linux tool's musl one), rust-src and llvm-tools, QEMU >= 10,
/// dtc/fdtoverlay and what U-Boot boots need are present.
/// Quick when everything already is (a few version queries).
pub fn ensure() -> Result<(), String> {
    ensure_rust()?;
    ensure_host_packages()
}

fn ensure_rust() -> Result<(), String> {
    let targets = output_of("rustup", &["target", "list", "--installed"]).unwrap_or_default();
    for target in [TARGET, HYPERVISOR_TARGET, crate::linux::TOOL_TARGET] {
        if !targets.lines().any(|line| line.trim() == target) {
            run_checked(
                Command::new("rustup").args(["target", "add", target]),
                "rustup target add",
            )?;
        }
    }
    let components = output_of("rustup", &["component", "list", "--installed"]).unwrap_or_default();
    // Installed components are listed with the host triple appended (llvm-tools-x86_64-...),
    // except target-independent ones such as rust-src.
    let has = |name: &str| {
        components.lines().any(|line| {
            let line = line.trim();
            line == name || line.starts_with(&format!("{name}-"))
        })
    };
    let missing: Vec<&str> = ["rust-src", "llvm-tools"]
        .into_iter()
        .filter(|c| !has(c))
        .collect();
    if !missing.is_empty() {
        run_checked(
            Command::new("rustup")
                .args(["component", "add"])
                .args(&missing),
            "rustup component add",
        )?;
    }
    Ok(())
}

/// Major version from `qemu-system-aarch64 --version` ("QEMU emulator version 10.0.2 ...").
pub fn qemu_major(version_text: &str) -> Option<u32> {
    let rest = version_text.split("version").nth(1)?;
    rest.trim_start().split(['.', ' ']).next()?.parse().ok()
}

fn ensure_host_packages() -> Result<(), String> {
    let qemu_ok = output_of(crate::qemu::QEMU, &["--version"])
        .and_then(|text| qemu_major(&text))
        .is_some_and(|major| major >= MIN_QEMU_MAJOR);
    let dtc_ok = ["dtc", "fdtoverlay"]
        .iter()
        .all(|tool| output_of(tool, &["--version"]).is_some());
    let uboot_missing = uboot_packages_missing();
    if qemu_ok && dtc_ok && uboot_missing.is_empty() {
        return Ok(());
    }
    if !qemu_ok {
        println!("setup: installing QEMU >= {MIN_QEMU_MAJOR} from bookworm-backports");
        write_backports_source()?;
    }
    apt(&["update"])?;
    if !qemu_ok {
        apt(&[
            "install",
            "-y",
            "-t",
            "bookworm-backports",
            "qemu-system-arm",
        ])?;
    }
    if !dtc_ok {
        apt(&["install", "-y", "device-tree-compiler"])?;
    }
    if !uboot_missing.is_empty() {
        let mut args = vec!["install", "-y"];
        args.extend(&uboot_missing);
        apt(&args)?;
    }
    Ok(())
}

/// What booting through U-Boot needs and is not there: Debian's U-Boot for
/// QEMU (`u-boot-qemu`), `mkimage` for its boot script (`u-boot-tools`) and
/// `mke2fs -d` for its disk (`e2fsprogs`).
fn uboot_packages_missing() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !std::path::Path::new(crate::qemu::UBOOT_QEMU_ARM64).is_file() {
        missing.push("u-boot-qemu");
    }
    if output_of("mkimage", &["-V"]).is_none() {
        missing.push("u-boot-tools");
    }
    if output_of("mke2fs", &["-V"]).is_none() {
        missing.push("e2fsprogs");
    }
    missing
}

/// The first stanza of the system's Debian source with its suite swapped for
/// bookworm-backports (the mirror stays whatever the system already uses).
pub fn backports_stanza(debian_sources: &str) -> Result<String, String> {
    let first = debian_sources
        .split("\n\n")
        .find(|stanza| stanza.lines().any(|line| line.starts_with("URIs:")))
        .ok_or("debian.sources has no stanza with URIs")?;
    let mut found_suites = false;
    let mut lines: Vec<String> = Vec::new();
    for line in first.lines() {
        if line.starts_with("Suites:") {
            found_suites = true;
            lines.push("Suites: bookworm-backports".to_string());
        } else {
            lines.push(line.to_string());
        }
    }
    if !found_suites {
        return Err("debian.sources' first stanza has no Suites line".to_string());
    }
    Ok(lines.join("\n") + "\n")
}

fn write_backports_source() -> Result<(), String> {
    const SOURCE: &str = "/etc/apt/sources.list.d/debian.sources";
    const BACKPORTS: &str = "/etc/apt/sources.list.d/bookworm-backports.sources";
    let text = std::fs::read_to_string(SOURCE)
        .map_err(|error| format!("cannot read {SOURCE}: {error}"))?;
    let stanza = backports_stanza(&text)?;
    if is_root() {
        std::fs::write(BACKPORTS, stanza)
            .map_err(|error| format!("cannot write {BACKPORTS}: {error}"))
    } else {
        let temporary = std::env::temp_dir().join("bookworm-backports.sources");
        std::fs::write(&temporary, stanza)
            .map_err(|error| format!("cannot write {}: {error}", temporary.display()))?;
        run_checked(
            Command::new("sudo")
                .arg("cp")
                .arg(&temporary)
                .arg(BACKPORTS),
            "installing the backports source",
        )
    }
}

/// `apt-get ARGS` as root (through sudo unless we are root).
pub fn apt(args: &[&str]) -> Result<(), String> {
    privileged("apt-get", args)
}

/// Runs `program ARGS` as root (through sudo unless we are root).
pub fn privileged(program: &str, args: &[&str]) -> Result<(), String> {
    let mut command = if is_root() {
        Command::new(program)
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg(program);
        sudo
    };
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    run_checked(&mut command, &format!("{program} {}", args.join(" ")))
}

fn is_root() -> bool {
    output_of("id", &["-u"]).is_some_and(|uid| uid.trim() == "0")
}

/// Stdout of a successful command, `None` if it is missing or fails.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_version_parsing() {
        assert_eq!(
            qemu_major("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\n"),
            Some(10)
        );
        assert_eq!(qemu_major("QEMU emulator version 7.2.15 (Debian)"), Some(7));
        assert_eq!(qemu_major("nonsense"), None);
    }

    #[test]
    fn backports_keeps_first_stanza_and_mirror() {
        let sources = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n";
        let stanza = backports_stanza(sources).expect("has a stanza");
        assert_eq!(
            stanza,
            "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm-backports\nComponents: main\n"
        );
    }
}
