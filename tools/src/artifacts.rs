//! Cargo builds of the hypervisor and the guests, turned into raw images with objcopy.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::OnceLock;

use bulkhead_core::config::Layout;

/// Target triple of everything that runs inside QEMU.
pub const TARGET: &str = "aarch64-unknown-none";
/// The hypervisor's target: soft-float, so EL2 code never touches the FP/SIMD
/// registers, which hold the running guest's state.
pub const HYPERVISOR_TARGET: &str = "aarch64-unknown-none-softfloat";

/// The workspace root (this crate lives in `<root>/tools`).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory, where every generated file goes.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

/// A `cargo` command run from the workspace root (the same cargo that runs us, if known).
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(repo_root());
    command
}

/// Runs `command` with inherited stdio and fails with `what` if it does not succeed.
pub fn run_checked(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|error| format!("{what}: cannot start {:?}: {error}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Where a boot module's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// A raw image file given by the user.
    File(PathBuf),
    /// A bin of `tests-qemu/guests`, built and objcopied by us.
    Guest(String),
    /// `linux:kernel` or `linux:initramfs`: Debian's kernel Image or the test
    /// initramfs (see `linux.rs`), fetched or built on demand.
    Linux(String),
}

/// A `--module ADDR=FILE|ADDR=guest:NAME` argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    pub address: u64,
    pub source: ModuleSource,
}

impl ModuleSpec {
    /// A scenario's module: `linux:NAME` or a guest name.
    pub fn from_module(module: &bulkhead_scenarios::Module) -> Self {
        let source = match module.guest.strip_prefix("linux:") {
            Some(name) => ModuleSource::Linux(name.to_string()),
            None => ModuleSource::Guest(module.guest.to_string()),
        };
        ModuleSpec {
            address: module.address,
            source,
        }
    }
}

impl fmt::Display for ModuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            ModuleSource::File(path) => write!(f, "{:#x}={}", self.address, path.display()),
            ModuleSource::Guest(name) => write!(f, "{:#x}=guest:{name}", self.address),
            ModuleSource::Linux(name) => write!(f, "{:#x}=linux:{name}", self.address),
        }
    }
}

/// Parses `0x4a00_0000` (hexadecimal) or `1241513984` (decimal); `_` separators allowed.
pub fn parse_address(text: &str) -> Result<u64, String> {
    let cleaned: String = text.trim().chars().filter(|&c| c != '_').collect();
    let parsed = match cleaned
        .strip_prefix("0x")
        .or_else(|| cleaned.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => cleaned.parse::<u64>(),
    };
    parsed.map_err(|_| format!("`{text}` is not an address (use 0x... or decimal)"))
}

impl FromStr for ModuleSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (address, source) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}` is not ADDR=FILE or ADDR=guest:NAME"))?;
        let address = parse_address(address)?;
        if let Some(name) = source.strip_prefix("linux:") {
            return match name {
                crate::linux::KERNEL_MODULE | crate::linux::INITRAMFS_MODULE => Ok(ModuleSpec {
                    address,
                    source: ModuleSource::Linux(name.to_string()),
                }),
                _ => Err(format!(
                    "`{text}`: use linux:{} or linux:{}",
                    crate::linux::KERNEL_MODULE,
                    crate::linux::INITRAMFS_MODULE
                )),
            };
        }
        let source = match source.strip_prefix("guest:") {
            Some("") => return Err(format!("`{text}` names no guest after `guest:`")),
            Some(name) => ModuleSource::Guest(name.to_string()),
            None if source.is_empty() => return Err(format!("`{text}` names no file")),
            None => ModuleSource::File(PathBuf::from(source)),
        };
        Ok(ModuleSpec { address, source })
    }
}

/// A boot module ready for QEMU's loader: a raw file and its load address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadedModule {
    pub address: u64,
    pub path: PathBuf,
}

/// The rustup sysroot's `llvm-objcopy` (from the `llvm-tools` component).
fn objcopy_path() -> Result<PathBuf, String> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| {
        let sysroot = command_output(Command::new("rustc").args(["--print", "sysroot"]))?;
        let version = command_output(Command::new("rustc").arg("-vV"))?;
        let host = version
            .lines()
            .find_map(|line| line.strip_prefix("host: "))
            .ok_or("rustc -vV printed no host triple")?;
        let path = Path::new(sysroot.trim())
            .join("lib/rustlib")
            .join(host.trim())
            .join("bin/llvm-objcopy");
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{} is missing (rustup component add llvm-tools)",
                path.display()
            ))
        }
    })
    .clone()
}

fn command_output(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot run {:?}: {error}", command.get_program()))?;
    if !output.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            command,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|_| format!("{command:?} printed non-UTF-8"))
}

/// `llvm-objcopy -O binary elf raw`: the raw image QEMU and the hypervisor load.
fn objcopy(elf: &Path, raw: &Path) -> Result<(), String> {
    if let Some(parent) = raw.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("cannot create {}: {error}", parent.display()))?;
    }
    let mut command = Command::new(objcopy_path()?);
    command.arg("-O").arg("binary").arg(elf).arg(raw);
    run_checked(&mut command, &format!("objcopy of {}", elf.display()))
}

fn release_dir() -> PathBuf {
    target_dir().join(TARGET).join("release")
}

fn hypervisor_release_dir() -> PathBuf {
    target_dir().join(HYPERVISOR_TARGET).join("release")
}

/// Directory of the raw images.
pub fn images_dir() -> PathBuf {
    target_dir().join("images")
}

/// The virtio disk image of the default board (`target/images/pci-disk.img`),
/// written when missing or different from [`bulkhead_scenarios::disk::image`].
pub fn pci_disk_image() -> Result<PathBuf, String> {
    let path = images_dir().join("pci-disk.img");
    let image = bulkhead_scenarios::disk::image();
    if std::fs::read(&path).is_ok_and(|old| old == image) {
        return Ok(path);
    }
    std::fs::create_dir_all(images_dir())
        .map_err(|error| format!("cannot create {}: {error}", images_dir().display()))?;
    std::fs::write(&path, image)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(path)
}

/// Builds the hypervisor and returns its raw image `target/images/bulkhead.bin`.
pub fn build_hypervisor() -> Result<PathBuf, String> {
    build_hypervisor_for(crate::boards::BoardName::QemuVirt)
}

/// Builds the hypervisor for `board` (its cargo feature selects the board's
/// constants and linker constants) and returns its raw image in `target/images/`.
pub fn build_hypervisor_for(board: crate::boards::BoardName) -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args([
        "build",
        "--release",
        "-p",
        "bulkhead",
        "--target",
        HYPERVISOR_TARGET,
    ]);
    if let Some(feature) = board.hypervisor_feature() {
        command.args(["--features", feature]);
    }
    run_checked(&mut command, "building the hypervisor")?;
    let raw = images_dir().join(board.image_name());
    objcopy(&hypervisor_release_dir().join("bulkhead"), &raw)?;
    Ok(raw)
}

/// Builds every bin of `tests-qemu/guests` (objcopy happens per guest in [`guest_image`]).
pub fn build_guests() -> Result<(), String> {
    run_checked(
        cargo().args([
            "build",
            "--release",
            "-p",
            "bulkhead-guests",
            "--target",
            TARGET,
        ]),
        "building the guests",
    )
}

/// The ELF of guest `name` (call [`build_guests`] first). Bare QEMU boots
/// take the ELF: it loads it at its link address, whereas a raw image whose
/// header asks for offset 0 lands 2 MiB above the RAM base.
pub fn guest_elf(name: &str) -> Result<PathBuf, String> {
    // A name is a file name in target/; refuse anything that could walk elsewhere.
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("`{name}` is not a guest name"));
    }
    let elf = release_dir().join(name);
    if !elf.is_file() {
        return Err(format!(
            "guest `{name}` was not built ({} is missing): is it a bin of tests-qemu/guests?",
            elf.display()
        ));
    }
    Ok(elf)
}

/// The raw image of guest `name`, objcopied from its ELF (call [`build_guests`] first).
pub fn guest_image(name: &str) -> Result<PathBuf, String> {
    let elf = guest_elf(name)?;
    let raw = images_dir().join("guests").join(format!("{name}.bin"));
    objcopy(&elf, &raw)?;
    Ok(raw)
}

/// Turns module specs into files on disk, objcopying guests as needed.
pub fn resolve_modules(specs: &[ModuleSpec]) -> Result<Vec<LoadedModule>, String> {
    specs
        .iter()
        .map(|spec| {
            let path = match &spec.source {
                ModuleSource::Guest(name) => guest_image(name)?,
                ModuleSource::Linux(name) => crate::linux::module_file(name)?,
                ModuleSource::File(path) if path.is_file() => path.clone(),
                ModuleSource::File(path) => {
                    return Err(format!("module file {} does not exist", path.display()))
                }
            };
            Ok(LoadedModule {
                address: spec.address,
                path,
            })
        })
        .collect()
}

/// Whether a module specs list needs the guests crate built.
pub fn needs_guests(specs: &[ModuleSpec]) -> bool {
    specs
        .iter()
        .any(|spec| matches!(spec.source, ModuleSource::Guest(_)))
}

/// Checks each module against the validated layout: it must be some partition's
/// `kernel` or `initrd` and fit in its size. Returns warnings (a kernel with no module).
pub fn check_modules_fit(modules: &[LoadedModule], layout: &Layout) -> Result<Vec<String>, String> {
    let mut problems = Vec::new();
    // Every boot module slot of the layout: (partition, property, module).
    let slots: Vec<_> = layout
        .partitions
        .iter()
        .flat_map(|p| {
            std::iter::once((p, "kernel", p.kernel))
                .chain(p.initrd.map(|initrd| (p, "initrd", initrd)))
        })
        .collect();
    for module in modules {
        let size = std::fs::metadata(&module.path)
            .map_err(|error| format!("cannot read {}: {error}", module.path.display()))?
            .len();
        match slots.iter().find(|(_, _, slot)| slot.pa.0 == module.address) {
            None => problems.push(format!(
                "module {} at {:#x} is no partition's `kernel` or `initrd` (the layout's kernels are at {})",
                module.path.display(),
                module.address,
                kernel_list(layout)
            )),
            Some((partition, property, slot)) if size > slot.size => problems.push(format!(
                "module {} is {size:#x} bytes but partition {} ({}) reserves only {:#x} bytes for its `{property}` at {:#x}",
                module.path.display(),
                partition.id,
                partition.label,
                slot.size,
                module.address
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let warnings = slots
        .iter()
        .filter(|(_, _, slot)| !modules.iter().any(|m| m.address == slot.pa.0))
        .map(|(p, property, slot)| {
            format!(
                "warning: no module loaded at partition {} ({})'s {property} {:#x}; it will get whatever RAM holds",
                p.id, p.label, slot.pa.0
            )
        })
        .collect();
    Ok(warnings)
}

fn kernel_list(layout: &Layout) -> String {
    let list: Vec<String> = layout
        .partitions
        .iter()
        .map(|p| format!("{:#x}", p.kernel.pa.0))
        .collect();
    if list.is_empty() {
        "nowhere".to_string()
    } else {
        list.join(", ")
    }
}

/// Every guest any scenario or benchmark boots.
pub fn scenario_guests() -> BTreeSet<&'static str> {
    let scenarios = bulkhead_scenarios::all()
        .into_iter()
        .flat_map(|s| s.modules.iter());
    let benchmarks = bulkhead_scenarios::benchmarks()
        .into_iter()
        .flat_map(|b| b.modules.iter());
    let bare = bulkhead_scenarios::benchmarks()
        .into_iter()
        .filter_map(|b| b.bare.map(|bare| bare.kernel));
    scenarios
        .chain(benchmarks)
        .map(|module| module.guest)
        .chain(bare)
        .filter(|name| !name.starts_with("linux:"))
        .collect()
}

/// `cargo xtask build`: the hypervisor, the guests, and the raw image of every guest a scenario uses.
pub fn build_all() -> Result<(), String> {
    crate::setup::ensure()?;
    let hypervisor = build_hypervisor()?;
    println!("hypervisor: {}", hypervisor.display());
    build_guests()?;
    for name in scenario_guests() {
        println!("guest {name}: {}", guest_image(name)?.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_spec_guest() {
        let spec: ModuleSpec = "0x4a00_0000=guest:compute".parse().expect("valid spec");
        assert_eq!(
            spec,
            ModuleSpec {
                address: 0x4a00_0000,
                source: ModuleSource::Guest("compute".into())
            }
        );
        assert_eq!(spec.to_string(), "0x4a000000=guest:compute");
    }

    #[test]
    fn module_spec_file() {
        let spec: ModuleSpec = "1241513984=/tmp/a=b.bin".parse().expect("valid spec");
        assert_eq!(spec.address, 0x4a00_0000);
        assert_eq!(
            spec.source,
            ModuleSource::File(PathBuf::from("/tmp/a=b.bin"))
        );
        let spec: ModuleSpec = "0X10=image.bin".parse().expect("valid spec");
        assert_eq!(spec.address, 0x10);
    }

    #[test]
    fn module_spec_linux() {
        let spec: ModuleSpec = "0x44000000=linux:kernel".parse().expect("valid spec");
        assert_eq!(spec.source, ModuleSource::Linux("kernel".into()));
        assert_eq!(spec.to_string(), "0x44000000=linux:kernel");
        assert!("0x44000000=linux:vmlinux".parse::<ModuleSpec>().is_err());
    }

    #[test]
    fn module_spec_refusals() {
        for bad in [
            "0x4a000000",
            "=guest:compute",
            "0xZZ=file",
            "0x4a000000=",
            "0x4a000000=guest:",
            "0x1_0000_0000_0000_0000=x",
            "-1=x",
        ] {
            assert!(
                bad.parse::<ModuleSpec>().is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn guest_names_cannot_escape() {
        assert!(guest_image("../../etc/passwd").is_err());
        assert!(guest_image("").is_err());
    }
}
