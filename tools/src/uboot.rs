//! Booting through U-Boot: the boot script, and the disk U-Boot loads it, Bulkhead and the modules from.
//!
//! U-Boot's default boot command (distro boot, or `bootflow scan` on newer
//! builds) finds `/boot.scr` on the first partition of the virtio disk and
//! runs it. The script loads Bulkhead where `booti` runs it in place, loads
//! every module at its address, copies the board DT U-Boot runs with (QEMU's)
//! to a work area, puts the layout in it, and `booti`s Bulkhead with it.
//!
//! Debian's U-Boot builds lack `fdt apply` (CONFIG_OF_LIBFDT_OVERLAY is off
//! for qemu_arm64 in bookworm and trixie alike), so the script applies the
//! compiled overlay with the `fdt mknode` / `fdt set` commands it amounts to:
//! the same nodes and properties, in the same order, as `fdt apply` (or
//! fdtoverlay on the host) would produce for path-based fragments.

use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_core::boot_image::parse_image_header;
use bulkhead_platform::qemu_virt::PLATFORM;

use crate::artifacts::LoadedModule;
use crate::board::run_tool;

/// Where the script copies the board DT to and edits it: the last 2 MiB of
/// Bulkhead's own area, above its image, stacks and heap. Modules are never
/// there (the validator keeps them out of the hypervisor area), and Bulkhead
/// copies its DTB to the heap before it writes anything else.
const BOARD_DT_ADDRESS: u64 = PLATFORM.reserved_start + PLATFORM.hypervisor_size - BOARD_DT_SPACE;
/// Room for the board DT while the layout is added (QEMU's is 1 MiB with padding).
const BOARD_DT_SPACE: u64 = 2 << 20;

/// Longest line U-Boot reads (CONFIG_SYS_CBSIZE of qemu_arm64).
const MAX_LINE: usize = 511;

/// The disk's one partition starts at 1 MiB, as partitioning tools align it.
const PARTITION_START_SECTOR: u32 = 2048;
const SECTOR: usize = 512;

/// The U-Boot commands that apply a compiled overlay's path-based fragments
/// (`&{/path} { ... }`) to U-Boot's working DT, in the order that leaves
/// nodes and properties in source order.
pub fn overlay_commands(dtbo: &[u8]) -> Result<Vec<String>, String> {
    let overlay = fdt::Fdt::new(dtbo)
        .map_err(|error| format!("the layout overlay is not a DTB: {error:?}"))?;
    let root = overlay
        .find_node("/")
        .ok_or("the layout overlay has no root node")?;
    let mut commands = Vec::new();
    for fragment in root.children() {
        // __symbols__, __fixups__, __local_fixups__: labels for `fdt apply`.
        if fragment.name.starts_with("__") {
            continue;
        }
        let target = fragment
            .property("target-path")
            .and_then(|property| property.as_str())
            .ok_or(format!(
                "overlay {}: only path-based fragments (`&{{/path}} {{ ... }}`) can be applied by `fdt set`",
                fragment.name
            ))?;
        let body = fragment
            .children()
            .find(|child| child.name == "__overlay__")
            .ok_or(format!("overlay {}: no __overlay__ node", fragment.name))?;
        node_commands(target, body, &mut commands)?;
    }
    Ok(commands)
}

/// `fdt set` and `fdt mknode` insert before what a node already holds, so
/// properties and children are created last to first.
fn node_commands(
    path: &str,
    node: fdt::node::FdtNode<'_, '_>,
    commands: &mut Vec<String>,
) -> Result<(), String> {
    let properties: Vec<_> = node.properties().collect();
    for property in properties.iter().rev() {
        let mut command = format!("fdt set {} {}", word(path)?, word(property.name)?);
        if let Some(value) = value_argument(property.value) {
            command.push(' ');
            command.push_str(&value);
        }
        if command.len() > MAX_LINE {
            return Err(format!(
                "overlay {path}: property `{}` makes a U-Boot command of {} characters; U-Boot reads at most {MAX_LINE}",
                property.name,
                command.len()
            ));
        }
        commands.push(command);
    }
    let children: Vec<_> = node.children().collect();
    for child in children.iter().rev() {
        commands.push(format!("fdt mknode {} {}", word(path)?, word(child.name)?));
        let child_path = if path == "/" {
            format!("/{}", child.name)
        } else {
            format!("{path}/{}", child.name)
        };
        node_commands(&child_path, *child, commands)?;
    }
    Ok(())
}

/// A node path or a name as one shell word: quoted if U-Boot's shell would
/// otherwise read part of it differently (`#address-cells` starts a comment).
fn word(text: &str) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || ",._+-@/".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        return Ok(text.to_string());
    }
    if text
        .chars()
        .all(|c| (' '..='~').contains(&c) && !matches!(c, '"' | '\\' | '$'))
    {
        return Ok(format!("\"{text}\""));
    }
    Err(format!(
        "overlay: `{text}` cannot be written as a U-Boot command argument"
    ))
}

/// A property value as `fdt set` arguments, guessing its type as dtc's
/// decompiler does: strings if it is printable NUL-terminated text, cells if
/// its length is a multiple of 4, bytes otherwise; `None` for an empty
/// property. Cells and bytes are one quoted word, which U-Boot parses the
/// same as separate words and which stays within its 16 arguments.
fn value_argument(value: &[u8]) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if let Some(strings) = strings(value) {
        return Some(
            strings
                .iter()
                .map(|text| format!("\"{text}\""))
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    if value.len().is_multiple_of(4) {
        let cells: Vec<String> = value
            .chunks_exact(4)
            .map(|cell| {
                format!(
                    "{:#x}",
                    u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]])
                )
            })
            .collect();
        return Some(format!("\"<{}>\"", cells.join(" ")));
    }
    let bytes: Vec<String> = value.iter().map(|byte| format!("{byte:02x}")).collect();
    Some(format!("\"[{}]\"", bytes.join(" ")))
}

/// The strings of a string-list value that U-Boot's shell and `fdt set`
/// take back unchanged inside double quotes; `None` for anything else.
fn strings(value: &[u8]) -> Option<Vec<&str>> {
    let text = std::str::from_utf8(value.strip_suffix(&[0])?).ok()?;
    let strings: Vec<&str> = text.split('\0').collect();
    let plain = |text: &&str| {
        !text.is_empty()
            // `<` and `[` first would read as cells or bytes.
            && !text.starts_with(['<', '['])
            && text
                .chars()
                .all(|c| (' '..='~').contains(&c) && !matches!(c, '"' | '\\' | '$'))
    };
    strings.iter().all(plain).then_some(strings)
}

/// Where a module is on the disk.
fn module_file(module: &LoadedModule) -> String {
    format!("bulkhead/module-{:#x}.bin", module.address)
}

/// The U-Boot script (source text) that boots Bulkhead with the layout from
/// the partition U-Boot found it on (`devtype`, `devnum`, `distro_bootpart`
/// are set by U-Boot's boot scan).
pub fn boot_script(
    layout_name: &str,
    overlay: &[String],
    modules: &[LoadedModule],
) -> Result<String, String> {
    let from = "${devtype} ${devnum}:${distro_bootpart}";
    let load = PLATFORM.load_address;
    let dt = BOARD_DT_ADDRESS;
    // U-Boot's shell cannot leave a script from inside `||` (`exit` there
    // only ends the `||`), so a failed step clears a flag that `booti` needs.
    let step = |command: String| format!("{command} || setenv bulkhead_ok no\n");
    let mut script = format!(
        "# Boots Bulkhead with the layout {layout_name} (written by cargo xtask; see README, \"Booting through U-Boot\").\n\
         setenv bulkhead_ok yes\n\
         echo \"bulkhead-boot: loading Bulkhead and {count} module(s) from {from}\"\n",
        count = modules.len(),
    );
    script.push_str(&step(format!(
        "load {from} {load:#x} /bulkhead/bulkhead.bin"
    )));
    for module in modules {
        script.push_str(&step(format!(
            "load {from} {:#x} /{}",
            module.address,
            module_file(module)
        )));
    }
    script.push_str("# The DT U-Boot runs with is QEMU's board DT; edit a copy.\n");
    script.push_str(&step("fdt addr ${fdtcontroladdr}".to_string()));
    script.push_str(&step(format!(
        "fdt move ${{fdtcontroladdr}} {dt:#x} {BOARD_DT_SPACE:#x}"
    )));
    script.push_str("# The layout overlay, as `fdt apply` would apply it.\n");
    for command in overlay {
        script.push_str(&step(command.clone()));
    }
    script.push_str(&step("fdt resize".to_string()));
    script.push_str(&format!(
        "fdt get value bulkhead_compatible /chosen/bulkhead compatible\n\
         echo \"{marker}${{bulkhead_compatible}}\"\n\
         if test \"${{bulkhead_ok}}\" = yes; then booti {load:#x} - {dt:#x}; \
         else echo \"bulkhead-boot: a step above failed; not starting Bulkhead\"; fi\n",
        marker = bulkhead_scenarios::firmware::UBOOT_LAYOUT_MARKER,
    ));
    if let Some(line) = script.lines().find(|line| line.len() > MAX_LINE) {
        return Err(format!(
            "U-Boot script line longer than {MAX_LINE} characters: {line}"
        ));
    }
    Ok(script)
}

/// Checks that `booti` runs Bulkhead in place at its link address and that
/// its image ends below the board DT work area.
fn check_kernel(image: &[u8]) -> Result<(), String> {
    let header = parse_image_header(image).ok_or("Bulkhead's image has no arm64 Image header")?;
    // booti moves an image without the "anywhere" flag (bit 3) to RAM base + text_offset.
    if header.flags & (1 << 3) != 0
        || PLATFORM.reserved_start + header.text_offset != PLATFORM.load_address
    {
        return Err(format!(
            "booti would not run Bulkhead at its link address {:#x} (text_offset {:#x}, flags {:#x})",
            PLATFORM.load_address, header.text_offset, header.flags
        ));
    }
    let end = PLATFORM.load_address + header.image_size;
    if end > BOARD_DT_ADDRESS {
        return Err(format!(
            "Bulkhead's image ends at {end:#x}, inside the board DT work area at {BOARD_DT_ADDRESS:#x}"
        ));
    }
    Ok(())
}

/// A master boot record with one bootable Linux partition of `sectors` sectors.
fn master_boot_record(sectors: u32) -> [u8; SECTOR] {
    let mut record = [0u8; SECTOR];
    let entry = &mut record[446..462];
    entry[0] = 0x80; // bootable: what distro boot scans first
    entry[4] = 0x83; // Linux
    entry[8..12].copy_from_slice(&PARTITION_START_SECTOR.to_le_bytes());
    entry[12..16].copy_from_slice(&sectors.to_le_bytes());
    record[510] = 0x55;
    record[511] = 0xaa;
    record
}

fn copy(from: &Path, to: &Path) -> Result<u64, String> {
    std::fs::copy(from, to).map_err(|error| {
        format!(
            "cannot copy {} to {}: {error}",
            from.display(),
            to.display()
        )
    })
}

/// Builds `dir/u-boot-disk.img`: an MBR disk whose first partition (ext2)
/// holds `boot.scr` (and its source `boot.cmd`), Bulkhead and the modules.
pub fn build_disk(
    kernel: &Path,
    overlay: &Path,
    layout_name: &str,
    modules: &[LoadedModule],
    dir: &Path,
) -> Result<PathBuf, String> {
    let image = std::fs::read(kernel)
        .map_err(|error| format!("cannot read {}: {error}", kernel.display()))?;
    check_kernel(&image)?;
    let dtbo = std::fs::read(overlay)
        .map_err(|error| format!("cannot read {}: {error}", overlay.display()))?;
    let script = boot_script(layout_name, &overlay_commands(&dtbo)?, modules)?;

    let root = dir.join("u-boot-files");
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .map_err(|error| format!("cannot clear {}: {error}", root.display()))?;
    }
    std::fs::create_dir_all(root.join("bulkhead"))
        .map_err(|error| format!("cannot create {}: {error}", root.display()))?;
    let source = root.join("boot.cmd");
    std::fs::write(&source, &script)
        .map_err(|error| format!("cannot write {}: {error}", source.display()))?;
    run_tool(
        Command::new("mkimage")
            .args(["-A", "arm64", "-O", "linux", "-T", "script", "-C", "none"])
            .args(["-n", "Bulkhead boot", "-d"])
            .arg(&source)
            .arg(root.join("boot.scr")),
        "mkimage (U-Boot boot script)",
    )?;
    let mut bytes = copy(kernel, &root.join("bulkhead/bulkhead.bin"))?;
    for module in modules {
        bytes += copy(&module.path, &root.join(module_file(module)))?;
    }

    // ext2 needs room for its own tables besides the files.
    let kib = (bytes + bytes / 8) / 1024 + 4096;
    let partition = dir.join("u-boot-partition.img");
    let _ = std::fs::remove_file(&partition);
    run_tool(
        Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2", "-d"])
            .arg(&root)
            .arg(&partition)
            .arg(format!("{kib}k")),
        "mke2fs (U-Boot disk)",
    )?;
    let filesystem = std::fs::read(&partition)
        .map_err(|error| format!("cannot read {}: {error}", partition.display()))?;
    let sectors = u32::try_from(filesystem.len().div_ceil(SECTOR))
        .map_err(|_| "the U-Boot disk's partition exceeds 2 TiB".to_string())?;
    let mut disk = Vec::with_capacity(PARTITION_START_SECTOR as usize * SECTOR + filesystem.len());
    disk.extend_from_slice(&master_boot_record(sectors));
    disk.resize(PARTITION_START_SECTOR as usize * SECTOR, 0);
    disk.extend_from_slice(&filesystem);
    disk.resize(disk.len().next_multiple_of(SECTOR), 0);
    let path = dir.join("u-boot-disk.img");
    std::fs::write(&path, disk)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    let _ = std::fs::remove_file(&partition);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overlay(name: &str, source: &str) -> Vec<u8> {
        let dir =
            std::env::temp_dir().join(format!("bulkhead-uboot-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("overlay.dtso");
        std::fs::write(&path, source).expect("write overlay");
        let compiled = crate::board::compile_overlay(&path, &dir).expect("dtc compiles it");
        std::fs::read(compiled).expect("read dtbo")
    }

    #[test]
    fn values_are_typed_as_dtc_decompiles_them() {
        assert_eq!(value_argument(b""), None);
        assert_eq!(
            value_argument(b"/pl011@9000000\0/pcie@10000000\0").as_deref(),
            Some("\"/pl011@9000000\" \"/pcie@10000000\"")
        );
        assert_eq!(
            value_argument(&[0, 0, 0, 0, 0x50, 0, 0, 0]).as_deref(),
            Some("\"<0x0 0x50000000>\"")
        );
        assert_eq!(
            value_argument(&[1, 2, 0xff]).as_deref(),
            Some("\"[01 02 ff]\"")
        );
        // Text the shell would change goes as bytes.
        assert_eq!(
            value_argument(b"a$b\0").as_deref(),
            Some("\"<0x61246200>\"")
        );
        assert_eq!(value_argument(b"\0").as_deref(), Some("\"[00]\""));
    }

    #[test]
    fn path_fragments_become_commands_in_source_order() {
        // Tested where dtc is installed (it is wherever the scenarios run).
        if Command::new("dtc").arg("--version").output().is_err() {
            return;
        }
        let dtbo = overlay(
            "path",
            "/dts-v1/;\n/plugin/;\n&{/chosen} { bulkhead { #size-cells = <0>; compatible = \"bulkhead,layout-v1\"; \
             partition@0 { reg = <0>; label = \"a\"; }; partition@1 { reg = <1>; }; }; };\n",
        );
        let commands = overlay_commands(&dtbo).expect("path-based");
        assert_eq!(
            commands,
            [
                "fdt mknode /chosen bulkhead",
                "fdt set /chosen/bulkhead compatible \"bulkhead,layout-v1\"",
                "fdt set /chosen/bulkhead \"#size-cells\" \"<0x0>\"",
                "fdt mknode /chosen/bulkhead partition@1",
                "fdt set /chosen/bulkhead/partition@1 reg \"<0x1>\"",
                "fdt mknode /chosen/bulkhead partition@0",
                "fdt set /chosen/bulkhead/partition@0 label \"a\"",
                "fdt set /chosen/bulkhead/partition@0 reg \"<0x0>\"",
            ]
        );
    }

    #[test]
    fn label_fragments_are_refused() {
        if Command::new("dtc").arg("--version").output().is_err() {
            return;
        }
        let dtbo = overlay(
            "label",
            "/dts-v1/;\n/plugin/;\n&uart0 { status = \"okay\"; };\n",
        );
        let error = overlay_commands(&dtbo).expect_err("label-based");
        assert!(error.contains("only path-based fragments"), "{error}");
    }

    #[test]
    fn script_loads_everything_then_applies_and_boots() {
        let modules = [LoadedModule {
            address: 0x4f00_0000,
            path: PathBuf::from("/g/ticker.bin"),
        }];
        let script = boot_script(
            "demo",
            &["fdt mknode /chosen bulkhead".to_string()],
            &modules,
        )
        .expect("short lines");
        let commands: Vec<&str> = script
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert_eq!(
            commands,
            [
                "setenv bulkhead_ok yes",
                "echo \"bulkhead-boot: loading Bulkhead and 1 module(s) from ${devtype} ${devnum}:${distro_bootpart}\"",
                "load ${devtype} ${devnum}:${distro_bootpart} 0x40080000 /bulkhead/bulkhead.bin || setenv bulkhead_ok no",
                "load ${devtype} ${devnum}:${distro_bootpart} 0x4f000000 /bulkhead/module-0x4f000000.bin || setenv bulkhead_ok no",
                "fdt addr ${fdtcontroladdr} || setenv bulkhead_ok no",
                "fdt move ${fdtcontroladdr} 0x43e00000 0x200000 || setenv bulkhead_ok no",
                "fdt mknode /chosen bulkhead || setenv bulkhead_ok no",
                "fdt resize || setenv bulkhead_ok no",
                "fdt get value bulkhead_compatible /chosen/bulkhead compatible",
                "echo \"bulkhead-boot: layout applied, compatible=${bulkhead_compatible}\"",
                "if test \"${bulkhead_ok}\" = yes; then booti 0x40080000 - 0x43e00000; \
                 else echo \"bulkhead-boot: a step above failed; not starting Bulkhead\"; fi",
            ]
        );
    }

    #[test]
    fn record_has_one_bootable_partition_at_1_mib() {
        let record = master_boot_record(100);
        assert_eq!(record[446], 0x80);
        assert_eq!(record[450], 0x83);
        assert_eq!(&record[454..458], &2048u32.to_le_bytes());
        assert_eq!(&record[458..462], &100u32.to_le_bytes());
        assert_eq!(&record[510..], &[0x55, 0xaa]);
    }
}
