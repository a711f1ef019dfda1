//! The real guest: Debian's arm64 kernel and busybox, fetched with apt, and a test initramfs.
//!
//! Nothing here is committed: `ensure` downloads the two packages into
//! `target/linux/` once (`apt-get download`, `dpkg -x`), and `initramfs`
//! writes a cpio archive from `tests-qemu/linux/init` at every call, with
//! the `bulkhead` tool (`tools/linux-cli`, built here for [`TOOL_TARGET`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::artifacts::{cargo, repo_root, run_checked, target_dir};

/// Target of `bulkhead`, the Linux guests' tool: a static musl binary,
/// linked by rust-lld (`.cargo/config.toml`), so no cross C toolchain.
pub const TOOL_TARGET: &str = "aarch64-unknown-linux-musl";
/// The tool's package and binary names.
const TOOL_PACKAGE: &str = "bulkhead-cli";
const TOOL_BINARY: &str = "bulkhead";

/// The one pinned kernel: Debian bookworm's `linux-image-<KERNEL_VERSION>-cloud-arm64`.
pub const KERNEL_VERSION: &str = "6.1.0-50";

/// Module name (`linux:<name>`) of the kernel Image.
pub const KERNEL_MODULE: &str = "kernel";
/// Module name (`linux:<name>`) of the test initramfs.
pub const INITRAMFS_MODULE: &str = "initramfs";

/// Where packages, their unpacked trees and the derived images live.
pub fn cache_dir() -> PathBuf {
    target_dir().join("linux")
}

fn kernel_package() -> String {
    format!("linux-image-{KERNEL_VERSION}-cloud-arm64:arm64")
}

/// The raw arm64 `Image` (what QEMU `-kernel` and Bulkhead's module loader take).
pub fn kernel_image() -> PathBuf {
    cache_dir().join(format!("Image-{KERNEL_VERSION}"))
}

fn busybox() -> PathBuf {
    cache_dir().join("root/bin/busybox")
}

/// The file behind a `linux:<name>` module, building the initramfs if asked for it.
pub fn module_file(name: &str) -> Result<PathBuf, String> {
    ensure()?;
    match name {
        KERNEL_MODULE => Ok(kernel_image()),
        INITRAMFS_MODULE => initramfs(),
        other => Err(format!(
            "`linux:{other}` is not a Linux module (use linux:{KERNEL_MODULE} or linux:{INITRAMFS_MODULE})"
        )),
    }
}

/// Downloads and unpacks the kernel and busybox if they are not cached yet.
pub fn ensure() -> Result<(), String> {
    if kernel_image().is_file() && busybox().is_file() {
        return Ok(());
    }
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)
        .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    add_arm64_architecture()?;
    let packages = [kernel_package(), "busybox-static:arm64".to_string()];
    println!("setup: downloading {}", packages.join(", "));
    let download = |dir: &Path| {
        Command::new("apt-get")
            .arg("download")
            .args(&packages)
            .current_dir(dir)
            .status()
            .map(|status| status.success())
            .unwrap_or(false)
    };
    // A stale package index is the usual reason for a miss: refresh it once.
    if !download(&dir) {
        crate::setup::apt(&["update"])?;
        if !download(&dir) {
            return Err(format!(
                "apt-get download {} failed (is {KERNEL_VERSION} still in the archive?)",
                packages.join(" ")
            ));
        }
    }
    let root = dir.join("root");
    for entry in std::fs::read_dir(&dir)
        .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
    {
        let path = entry
            .map_err(|error| format!("cannot list {}: {error}", dir.display()))?
            .path();
        if path.extension().is_some_and(|ext| ext == "deb") {
            run_checked(
                Command::new("dpkg").arg("-x").arg(&path).arg(&root),
                &format!("dpkg -x {}", path.display()),
            )?;
        }
    }
    let vmlinuz = root.join(format!("boot/vmlinuz-{KERNEL_VERSION}-cloud-arm64"));
    let bytes = std::fs::read(&vmlinuz)
        .map_err(|error| format!("cannot read {}: {error}", vmlinuz.display()))?;
    let image = if bytes.starts_with(&[0x1f, 0x8b]) {
        // Some Debian arm64 kernels ship a gzip-compressed Image.
        let output = Command::new("gzip")
            .arg("-dc")
            .arg(&vmlinuz)
            .output()
            .map_err(|error| format!("cannot run gzip: {error}"))?;
        if !output.status.success() {
            return Err(format!("gzip -dc {} failed", vmlinuz.display()));
        }
        output.stdout
    } else {
        bytes
    };
    check_image_header(&image).map_err(|error| format!("{}: {error}", vmlinuz.display()))?;
    std::fs::write(kernel_image(), image)
        .map_err(|error| format!("cannot write {}: {error}", kernel_image().display()))?;
    if !busybox().is_file() {
        return Err(format!(
            "busybox-static did not provide {}",
            busybox().display()
        ));
    }
    Ok(())
}

fn add_arm64_architecture() -> Result<(), String> {
    let foreign = Command::new("dpkg")
        .arg("--print-foreign-architectures")
        .output()
        .map_err(|error| format!("cannot run dpkg: {error}"))?;
    if String::from_utf8_lossy(&foreign.stdout)
        .lines()
        .any(|line| line.trim() == "arm64")
    {
        return Ok(());
    }
    println!("setup: dpkg --add-architecture arm64");
    crate::setup::privileged("dpkg", &["--add-architecture", "arm64"])?;
    crate::setup::apt(&["update"])
}

/// Offset of the arm64 Image header's magic "ARM\x64" (Linux's booting.rst).
const IMAGE_MAGIC_OFFSET: usize = 0x38;

/// Checks the arm64 Image header and returns its `image_size` (bytes the kernel needs).
pub fn check_image_header(image: &[u8]) -> Result<u64, String> {
    let magic = image
        .get(IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4)
        .ok_or("too short for an arm64 Image header")?;
    if magic != b"ARM\x64" {
        return Err("no arm64 Image magic at offset 0x38".into());
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&image[0x10..0x18]);
    Ok(u64::from_le_bytes(size))
}

/// A tiny static aarch64 Linux ELF that writes CNTVCT_EL0 then CNTFRQ_EL0 as two
/// little-endian u64s to stdout (`od -An -tu8` prints them): busybox cannot read
/// the counter, and /proc/uptime starts late in the kernel's boot.
pub fn cntvct_elf() -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const CODE: [u32; 11] = [
        0xd53b_e041, // mrs x1, cntvct_el0
        0xd53b_e002, // mrs x2, cntfrq_el0
        0xa9bf_0be1, // stp x1, x2, [sp, #-16]!
        0xd280_0020, // mov x0, #1 (stdout)
        0x9100_03e1, // mov x1, sp
        0xd280_0202, // mov x2, #16
        0xd280_0808, // mov x8, #64 (write)
        0xd400_0001, // svc #0
        0xd280_0000, // mov x0, #0
        0xd280_0ba8, // mov x8, #93 (exit)
        0xd400_0001, // svc #0
    ];
    let header_size: u64 = 64 + 56;
    let total = header_size + 4 * CODE.len() as u64;
    let mut elf = Vec::with_capacity(total as usize);
    // ELF header: 64-bit, little-endian, version 1, System V ABI.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend_from_slice(&[0; 8]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    elf.extend_from_slice(&1u32.to_le_bytes()); // EV_CURRENT
    elf.extend_from_slice(&(BASE + header_size).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // program headers offset
    elf.extend_from_slice(&0u64.to_le_bytes()); // no section headers
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    for half in [64u16, 56, 1, 64, 0, 0] {
        // header size, phdr size, phdr count, shdr size, shdr count, shstrndx
        elf.extend_from_slice(&half.to_le_bytes());
    }
    // One PT_LOAD, read + execute, covering the whole file.
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&5u32.to_le_bytes());
    for word in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend_from_slice(&word.to_le_bytes());
    }
    for instruction in CODE {
        elf.extend_from_slice(&instruction.to_le_bytes());
    }
    elf
}

/// One member of a newc cpio archive.
pub enum Entry<'a> {
    Directory(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    /// A character device: path, major, minor.
    CharDevice(&'a str, u32, u32),
}

/// Writes a cpio "newc" archive (the format the kernel unpacks as initramfs).
pub fn cpio_newc(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |inode: u32, mode: u32, name: &str, data: &[u8], rdev: (u32, u32)| {
        let header = format!(
            "070701{inode:08x}{mode:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            0, // uid
            0, // gid
            1, // nlink
            0, // mtime: fixed, so archives are reproducible
            data.len(),
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            name.len() + 1,
            0, // check
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        // Name and data are each padded to a multiple of 4 bytes.
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    };
    for (index, entry) in entries.iter().enumerate() {
        let inode = index as u32 + 1;
        match *entry {
            Entry::Directory(path) => push(inode, 0o040_755, path, &[], (0, 0)),
            Entry::File(path, data) => push(inode, 0o100_755, path, data, (0, 0)),
            Entry::Symlink(path, target) => push(inode, 0o120_777, path, target.as_bytes(), (0, 0)),
            Entry::CharDevice(path, major, minor) => {
                push(inode, 0o020_600, path, &[], (major, minor))
            }
        }
    }
    push(0, 0, "TRAILER!!!", &[], (0, 0));
    out
}

/// Debian's own modules the test `/init` loads, in dependency order, by
/// path under `lib/modules/<version>/kernel`: the virtio PCI transport and
/// disk (the cloud kernel builds them as modules), and uio_pci_generic,
/// which gives `bulkhead` the channel doorbells' INTx. No module of ours.
const GUEST_MODULES: [&str; 8] = [
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "drivers/block/virtio_blk.ko",
    "drivers/uio/uio.ko",
    "drivers/uio/uio_pci_generic.ko",
];

/// The test programs of `tests-qemu/linux-programs`, built for
/// [`TOOL_TARGET`] like the tool and put in the initramfs's `/bin`.
const TEST_PROGRAMS_PACKAGE: &str = "bulkhead-linux-programs";
const TEST_PROGRAMS: [&str; 1] = ["sve_check"];

/// Builds `bulkhead` and the test programs (release, [`TOOL_TARGET`]) once
/// per run and returns the tool's binary.
pub fn build_tool() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            run_checked(
                cargo().args([
                    "build",
                    "--release",
                    "-p",
                    TOOL_PACKAGE,
                    "-p",
                    TEST_PROGRAMS_PACKAGE,
                    "--target",
                    TOOL_TARGET,
                ]),
                "building the bulkhead tool and the Linux test programs",
            )?;
            Ok(musl_binary(TOOL_BINARY))
        })
        .clone()
}

/// A binary built for [`TOOL_TARGET`].
fn musl_binary(name: &str) -> PathBuf {
    target_dir().join(TOOL_TARGET).join("release").join(name)
}

/// Builds `target/linux/initramfs.cpio`: busybox, `/init`, `/bin/cntvct`,
/// `/bin/bulkhead`, the test programs, `/dev/console` and the stock modules of
/// [`GUEST_MODULES`] in `/lib/modules`.
pub fn initramfs() -> Result<PathBuf, String> {
    let busybox_bytes = std::fs::read(busybox())
        .map_err(|error| format!("cannot read {}: {error}", busybox().display()))?;
    let init_path = repo_root().join("tests-qemu/linux/init");
    let init = std::fs::read(&init_path)
        .map_err(|error| format!("cannot read {}: {error}", init_path.display()))?;
    let cntvct = cntvct_elf();
    let tool_path = build_tool()?;
    let tool = std::fs::read(&tool_path)
        .map_err(|error| format!("cannot read {}: {error}", tool_path.display()))?;
    let mut programs = Vec::new();
    for name in TEST_PROGRAMS {
        let path = musl_binary(name);
        let bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        programs.push((format!("bin/{name}"), bytes));
    }
    let kernel_modules = cache_dir()
        .join("root/lib/modules")
        .join(format!("{KERNEL_VERSION}-cloud-arm64"))
        .join("kernel");
    let mut modules = Vec::new();
    for (order, relative) in GUEST_MODULES.iter().enumerate() {
        let path = kernel_modules.join(relative);
        let bytes = std::fs::read(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let name = relative.rsplit('/').next().unwrap_or(relative);
        // Numbered so that `/init` loads them in dependency order with a glob
        // (two digits, so that the glob's order stays numeric past ten).
        modules.push((format!("lib/modules/{order:02}-{name}"), bytes));
    }
    let mut entries = vec![
        Entry::Directory("bin"),
        Entry::Directory("dev"),
        Entry::CharDevice("dev/console", 5, 1),
        Entry::Directory("proc"),
        Entry::Directory("sys"),
        Entry::Directory("tmp"),
        Entry::File("bin/busybox", &busybox_bytes),
        // /init's interpreter; it installs the other applets itself.
        Entry::Symlink("bin/sh", "busybox"),
        Entry::File("bin/cntvct", &cntvct),
        Entry::File("bin/bulkhead", &tool),
        Entry::File("init", &init),
        Entry::Directory("lib"),
        Entry::Directory("lib/modules"),
    ];
    for (path, bytes) in modules.iter().chain(&programs) {
        entries.push(Entry::File(path, bytes));
    }
    let archive = cpio_newc(&entries);
    let path = cache_dir().join("initramfs.cpio");
    std::fs::write(&path, archive)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newc_layout() {
        let archive = cpio_newc(&[Entry::File("init", b"hi\n")]);
        let text = String::from_utf8_lossy(&archive);
        assert!(text.starts_with("070701"));
        // 110-byte header + "init\0" = 115, padded to 116; data 3 padded to 4.
        assert_eq!(&archive[116..119], b"hi\n");
        assert_eq!(&archive[120..126], b"070701");
        assert!(text.contains("TRAILER!!!"));
        assert_eq!(archive.len() % 4, 0);
        // Mode field of the file: regular, 0755.
        assert_eq!(&archive[14..22], b"000081ed");
    }

    #[test]
    fn device_node_numbers() {
        let archive = cpio_newc(&[Entry::CharDevice("dev/console", 5, 1)]);
        // rdevmajor, rdevminor are the 10th and 11th fields.
        assert_eq!(&archive[6 + 9 * 8..6 + 11 * 8], b"0000000500000001");
    }

    #[test]
    fn cntvct_is_a_small_static_elf() {
        let elf = cntvct_elf();
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!(elf.len(), 64 + 56 + 44);
        assert_eq!(
            u64::from_le_bytes(elf[24..32].try_into().unwrap()),
            0x40_0078
        );
    }

    #[test]
    fn image_header_checked() {
        let mut image = vec![0u8; 64];
        assert!(check_image_header(&image).is_err());
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        image[0x10..0x18].copy_from_slice(&0x1aa_0000u64.to_le_bytes());
        assert_eq!(check_image_header(&image), Ok(0x1aa_0000));
        assert!(check_image_header(&[0; 8]).is_err());
    }
}
