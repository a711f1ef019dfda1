//! The Linux scenarios: Debian's unmodified arm64 kernel in a partition, beside a bare-metal ticker.
//!
//! `/init` (tests-qemu/linux/init) prints `linux key=value` lines on the
//! partition's UART0; the ticker prints `ticker progress=N` on UART1 and
//! mirrors every fourth line to UART0 as `[ticker] ticker progress=N`, which
//! orders its counter against Linux's lines.

use crate::scenarios::parse::{
    expect_clean_exit, field, field_u64, labelled_lines, lines, own_lines,
};
use crate::{Module, Outcome, Scenario};

/// The kernel command line of every Linux layout without a reboot marker (bare benchmarks reuse it).
pub const BOOTARGS: &str = "console=ttyAMA0 panic=-1";

/// Debian's kernel and the test initramfs, at the `kernel` and `initrd` of every linux*.dtso.
pub const LINUX_MODULES: &[Module] = &[
    Module {
        address: 0x4400_0000,
        guest: "linux:kernel",
    },
    Module {
        address: 0x4900_0000,
        guest: "linux:initramfs",
    },
];

/// Linux beside the ticker (its `kernel` at 0x4f00_0000).
const WITH_TICKER: &[Module] = &[
    Module {
        address: 0x4400_0000,
        guest: "linux:kernel",
    },
    Module {
        address: 0x4900_0000,
        guest: "linux:initramfs",
    },
    Module {
        address: 0x4f00_0000,
        guest: "ticker",
    },
];

/// md5 of `seq 1 20000`, the checksum /init's workload computes per CPU.
pub const WORKLOAD_MD5: &str = "e071f707df7bbeee2a6a1eb48011ddd0";
/// Rounds of the workload (mirrors `init`).
pub const WORKLOAD_ROUNDS: u64 = 4;
/// What Linux keeps for itself out of MemTotal (kernel image, memmap, ...):
/// 256 MiB bare on QEMU shows 233,156 kB, i.e. ~28 MiB less.
pub const KERNEL_RESERVED_MAX_KB: u64 = 48 << 10;

/// Linux beside the console input reader `echo` (its `kernel` at 0x4f00_0000).
const WITH_ECHO: &[Module] = &[
    Module {
        address: 0x4400_0000,
        guest: "linux:kernel",
    },
    Module {
        address: 0x4900_0000,
        guest: "linux:initramfs",
    },
    Module {
        address: 0x4f00_0000,
        guest: "console_echo",
    },
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "linux_console_input",
            description: "Linux on its virtual PL011 (no UART of its own) runs the commands typed on Bulkhead's console; Ctrl-a three times moves the input to the bare-metal `echo` and back, and each partition gets only what was typed while it had the focus",
            layout: "tests-qemu/layouts/linux_console_input.dtso",
            modules: WITH_ECHO,
            timeout_secs: 120,
            icount: false,
            check: check_console_input,
        },
        Scenario {
            name: "linux_boot",
            description: "Debian's kernel boots to userspace on 2 cores and 256 MiB (IPA != PA), sees its CPUs, memory and devices, works and powers off its partition only; the ticker beside it keeps counting",
            layout: "tests-qemu/layouts/linux.dtso",
            modules: WITH_TICKER,
            timeout_secs: 120,
            icount: false,
            check: |outcome| check_linux_with_ticker(outcome, 1),
        },
        Scenario {
            name: "uboot_demo",
            description: "the default demo booted as on a board: Debian's U-Boot as the machine's firmware loads Bulkhead, the layout and the modules from a disk, applies the layout to the board DT and starts Bulkhead with booti; the demo prints the same results",
            layout: "tests-qemu/layouts/linux.dtso",
            modules: WITH_TICKER,
            timeout_secs: 150,
            icount: false,
            check: check_uboot_demo,
        },
        Scenario {
            name: "linux_virtio_blk",
            description: "Linux given only the virtio disk function 00:04.0 (IPA != PA) sees just that function behind a virtual host bridge and reads the whole disk by DMA through the SMMU: md5 equals the image's",
            layout: "tests-qemu/layouts/linux_virtio_blk.dtso",
            modules: WITH_TICKER,
            timeout_secs: 120,
            icount: false,
            check: check_linux_virtio_blk,
        },
        Scenario {
            name: "linux_reboot",
            description: "Linux's `reboot -f` boots it again in its partition while the ticker keeps counting",
            layout: "tests-qemu/layouts/linux_reboot.dtso",
            modules: WITH_TICKER,
            timeout_secs: 120,
            icount: false,
            check: |outcome| check_linux_with_ticker(outcome, 2),
        },
        Scenario {
            name: "linux_1cpu_128m",
            description: "Linux on 1 core and 128 MiB from a generated guest DT",
            layout: "tests-qemu/layouts/linux_1cpu_128m.dtso",
            modules: LINUX_MODULES,
            timeout_secs: 120,
            icount: false,
            check: |outcome| check_linux_alone(outcome, 1, 128),
        },
        Scenario {
            name: "linux_3cpu_512m",
            description: "Linux on 3 cores and 512 MiB from a generated guest DT",
            layout: "tests-qemu/layouts/linux_3cpu_512m.dtso",
            modules: LINUX_MODULES,
            timeout_secs: 120,
            icount: false,
            check: |outcome| check_linux_alone(outcome, 3, 512),
        },
    ]
}

/// One `linux ...` line of UART0 with its index; tolerant of a line that
/// another writer's text was glued in front of.
fn linux_lines(text: &str) -> Vec<(usize, &str)> {
    lines(text)
        .enumerate()
        .filter_map(|(index, line)| {
            let at = line.find("linux ")?;
            Some((index, &line[at..]))
        })
        .collect()
}

/// What one Linux boot printed, checked against its partition.
pub(crate) fn check_one_boot(
    what: &str,
    boot: &[(usize, &str)],
    cpus: u64,
    memory_mib: u64,
) -> Result<(), String> {
    let find = |prefix: &str| {
        boot.iter()
            .map(|(_, line)| *line)
            .find(|line| line.starts_with(prefix))
            .ok_or(format!("{what}: no `{prefix}` line"))
    };
    let nproc = find("linux nproc=")?;
    if field_u64(nproc, "nproc") != Some(cpus) {
        return Err(format!("{what}: {nproc}, expected nproc={cpus}"));
    }
    let online = find("linux online=")?;
    let expected_online = if cpus == 1 {
        "0".to_string()
    } else {
        format!("0-{}", cpus - 1)
    };
    if field(online, "online") != Some(expected_online.as_str()) {
        return Err(format!(
            "{what}: {online}, expected online={expected_online}"
        ));
    }
    let memory = find("linux memtotal_kb=")?;
    let total = field_u64(memory, "memtotal_kb").ok_or(format!("{what}: bad line: {memory}"))?;
    let partition_kb = memory_mib << 10;
    if total > partition_kb || total + KERNEL_RESERVED_MAX_KB < partition_kb {
        return Err(format!(
            "{what}: {memory}, expected at most {partition_kb} kB and at least {} kB",
            partition_kb - KERNEL_RESERVED_MAX_KB
        ));
    }
    let devices = find("linux devices=")?;
    let list: Vec<&str> = field(devices, "devices").unwrap_or("").split(',').collect();
    // The board's host bridge, or Bulkhead's virtual one (individual functions).
    let pcie = if list.contains(&"3f000000.pcie") {
        "3f000000.pcie"
    } else {
        "4010000000.pcie"
    };
    // UART0 is Bulkhead's: Linux's console is its virtual PL011.
    for needed in ["3f200000.pl011", pcie] {
        if !list.contains(&needed) {
            return Err(format!("{what}: {devices}: {needed} was not probed"));
        }
    }
    if list.contains(&"9000000.pl011") {
        return Err(format!(
            "{what}: {devices}: Bulkhead's console UART is visible"
        ));
    }
    if list.contains(&"9040000.pl011") {
        return Err(format!("{what}: {devices}: the ticker's UART is visible"));
    }
    for round in 1..=WORKLOAD_ROUNDS {
        let prefix = format!("linux counter={round} ");
        let line = find(&prefix)?;
        if field(line, "md5") != Some(WORKLOAD_MD5) {
            return Err(format!("{what}: {line}, expected md5={WORKLOAD_MD5}"));
        }
    }
    Ok(())
}

/// Splits UART0's Linux lines into boots (each starts at `linux userspace`).
pub(crate) fn linux_boots(text: &str) -> Vec<Vec<(usize, &str)>> {
    let mut boots: Vec<Vec<(usize, &str)>> = Vec::new();
    for (index, line) in linux_lines(text) {
        if line.starts_with("linux userspace ") {
            boots.push(Vec::new());
        }
        if let Some(boot) = boots.last_mut() {
            boot.push((index, line));
        }
    }
    boots
}

fn check_linux_alone(outcome: &Outcome, cpus: u64, memory_mib: u64) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let boots = linux_boots(&outcome.uart[0]);
    let [boot] = boots.as_slice() else {
        return Err(format!(
            "Linux reached userspace {} times, expected once",
            boots.len()
        ));
    };
    check_one_boot("linux", boot, cpus, memory_mib)?;
    if !boot
        .iter()
        .any(|(_, line)| line.starts_with("linux poweroff"))
    {
        return Err("linux: no `linux poweroff` line".into());
    }
    Ok(())
}

/// Linux with one PCI function: it lists exactly 00:04.0 (1af4:1042), reads
/// the disk whole with the image's checksum, and no DMA fault is reported.
fn check_linux_virtio_blk(outcome: &Outcome) -> Result<(), String> {
    check_linux_with_ticker(outcome, 1)?;
    let lines = linux_lines(&outcome.uart[0]);
    let value = |prefix: &str| {
        lines
            .iter()
            .find_map(|(_, line)| line.strip_prefix(prefix))
            .ok_or(format!("no `{prefix}` line"))
    };
    let slots = value("linux pci_slots=")?;
    if slots.trim() != "0000:00:04.0" {
        return Err(format!(
            "Linux sees PCI functions {slots}, expected only 0000:00:04.0"
        ));
    }
    let ids = value("linux pci=")?;
    if ids.trim() != "0x1af4:0x1042" {
        return Err(format!("Linux sees PCI ids {ids}, expected 0x1af4:0x1042"));
    }
    let disk = value("linux disk ")?;
    let expected_sectors = crate::disk::DISK_BYTES / 512;
    let expected = format!(
        "bytes={expected_sectors}x512 md5={}",
        crate::disk::image_md5()
    );
    if disk.trim() != expected {
        return Err(format!("disk: `{disk}`, expected `{expected}`"));
    }
    if let Some(fault) = outcome.uart[0]
        .lines()
        .find(|line| line.contains("dma fault"))
    {
        return Err(format!("unexpected DMA fault: {fault}"));
    }
    Ok(())
}

/// The demo through U-Boot: U-Boot ran (its banner), its boot script put
/// the layout in the DT it passes (it reads the layout's `compatible` back
/// from that DT), `booti` started Bulkhead, in that order; then the demo
/// printed what it prints when QEMU starts Bulkhead itself.
fn check_uboot_demo(outcome: &Outcome) -> Result<(), String> {
    let text = &outcome.uart[0];
    let position = |what: &str, found: &dyn Fn(&str) -> bool| {
        lines(text)
            .position(found)
            .ok_or(format!("uart0: no {what}"))
    };
    let banner = position("U-Boot banner (`U-Boot 20..`)", &|line| {
        line.starts_with("U-Boot 20")
    })?;
    let marker = crate::firmware::UBOOT_LAYOUT_MARKER;
    let applied = position(
        &format!("`{marker}...` line from the boot script"),
        &|line| line.starts_with(marker),
    )?;
    let applied_line = lines(text).nth(applied).unwrap_or_default();
    let compatible = applied_line.trim_start_matches(marker).trim();
    if compatible != "bulkhead,layout-v1" {
        return Err(format!(
            "U-Boot read back `{compatible}` as the layout's compatible, expected bulkhead,layout-v1"
        ));
    }
    let booti = position("`Starting kernel ...` line from booti", &|line| {
        line.starts_with("Starting kernel")
    })?;
    let bulkhead = position("Bulkhead banner (`starting at EL2`)", &|line| {
        line.contains("starting at EL2")
    })?;
    if !(banner < applied && applied < booti && booti < bulkhead) {
        return Err(format!(
            "uart0: out of order: U-Boot banner at line {banner}, layout applied at {applied}, booti at {booti}, Bulkhead at {bulkhead}"
        ));
    }
    check_linux_with_ticker(outcome, 1)
}

fn check_linux_with_ticker(outcome: &Outcome, expected_boots: usize) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let boots = linux_boots(&outcome.uart[0]);
    if boots.len() != expected_boots {
        return Err(format!(
            "Linux reached userspace {} times, expected {expected_boots}",
            boots.len()
        ));
    }
    // Bulkhead seeds every start: Linux's CRNG is ready at once and KASLR
    // is on (without seeds it says "KASLR disabled due to lack of seed").
    for marker in ["random: crng init done", "KASLR enabled"] {
        let seen = outcome.uart[0].matches(marker).count();
        if seen != expected_boots {
            return Err(format!(
                "Linux printed `{marker}` {seen} times in {expected_boots} boot(s)"
            ));
        }
    }
    for (number, boot) in boots.iter().enumerate() {
        let what = format!("linux boot {}", number + 1);
        check_one_boot(&what, boot, 2, 256)?;
        let last = if number + 1 == expected_boots {
            "linux poweroff"
        } else {
            "linux reboot"
        };
        if !boot.iter().any(|(_, line)| line.starts_with(last)) {
            return Err(format!("{what}: no `{last}` line"));
        }
        let marker = format!("linux boot={}", number + 1);
        if expected_boots > 1 && !boot.iter().any(|(_, line)| *line == marker) {
            return Err(format!("{what}: no `{marker}` line"));
        }
    }

    // The ticker's own UART: every step once, in order, to the end.
    let mut previous = 0;
    for line in own_lines(&outcome.uart[1]).filter(|line| line.starts_with("ticker progress=")) {
        let progress = field_u64(line, "progress").ok_or(format!("ticker: bad line: {line}"))?;
        if progress != previous + 1 {
            return Err(format!("ticker: progress {progress} after {previous}"));
        }
        previous = progress;
    }
    if !own_lines(&outcome.uart[1]).any(|line| line.starts_with("ticker done")) {
        return Err(format!(
            "ticker: no `ticker done` line on uart1 (last progress {previous})"
        ));
    }

    // Its mirror on UART0: counting before Linux's first userspace line,
    // between every two Linux milestones, and after Linux powered off.
    let mirror: Vec<(usize, u64)> = labelled_lines(&outcome.uart[0], "ticker")
        .filter_map(|(index, text)| Some((index, field_u64(text, "progress")?)))
        .collect();
    let first_linux = boots
        .first()
        .and_then(|boot| boot.first())
        .map(|(index, _)| *index)
        .unwrap_or(0);
    let poweroff = boots
        .last()
        .and_then(|boot| {
            boot.iter()
                .find(|(_, line)| line.starts_with("linux poweroff"))
        })
        .map(|(index, _)| *index)
        .unwrap_or(usize::MAX);
    let before = mirror
        .iter()
        .filter(|(index, _)| *index < first_linux)
        .map(|(_, p)| *p)
        .max();
    let during = mirror
        .iter()
        .filter(|(index, _)| (first_linux..poweroff).contains(index))
        .map(|(_, p)| *p)
        .max();
    let after = mirror
        .iter()
        .filter(|(index, _)| *index > poweroff)
        .map(|(_, p)| *p)
        .max();
    match (before, during, after) {
        (Some(before), Some(during), Some(after)) if before < during && during < after => Ok(()),
        _ => Err(format!(
            "ticker: mirrored progress before Linux's userspace {before:?}, until its poweroff {during:?}, after it {after:?}: expected rising"
        )),
    }
}

/// What `linux_console_input` typed (`bulkhead_scenarios::console_input`)
/// reached the focused partition only, and its shell answered.
fn check_console_input(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let linux: Vec<&str> = labelled_lines(&outcome.uart[0], "linux")
        .map(|(_, text)| text)
        .collect();
    let echo: Vec<&str> = labelled_lines(&outcome.uart[0], "echo")
        .map(|(_, text)| text)
        .collect();
    let lines = |who: &[&str], what: &str| who.iter().filter(|line| **line == what).count();
    // The shell ran both commands typed while Linux had the focus.
    for answer in ["typed-42", "back-5", "linux shell exited", "linux poweroff"] {
        if lines(&linux, answer) != 1 {
            return Err(format!(
                "linux: expected one `{answer}` line, got {}",
                lines(&linux, answer)
            ));
        }
    }
    // echo got exactly what was typed while it had the focus.
    let got: Vec<&str> = echo
        .iter()
        .filter_map(|line| line.strip_prefix("echo got="))
        .collect();
    if got != ["hello-echo", "bye"] {
        return Err(format!(
            "echo received {got:?}, expected [\"hello-echo\", \"bye\"]"
        ));
    }
    // Linux never saw echo's input (its shell would echo it or complain).
    if let Some(line) = linux
        .iter()
        .find(|line| line.contains("hello-echo") || line.contains("bye"))
    {
        return Err(format!("linux received echo's input: `{line}`"));
    }
    // Bulkhead said where the input went, each time.
    let bulkhead: Vec<&str> = lines_of(&outcome.uart[0])
        .filter(|line| line.starts_with("bulkhead: console input"))
        .collect();
    let expected = [
        "bulkhead: console input goes to linux (Ctrl-a three times switches)",
        "bulkhead: console input now goes to echo",
        "bulkhead: console input now goes to linux",
    ];
    if bulkhead != expected {
        return Err(format!("focus reports {bulkhead:?}, expected {expected:?}"));
    }
    Ok(())
}

fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|line| line.trim_end_matches('\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot_lines(cpus: u64, memtotal: u64, last: &str) -> String {
        let mut text = format!(
            "linux userspace cntvct=1 cntfrq=62500000 uptime=2.0\n\
             linux nproc={cpus}\nlinux online=0-{}\nlinux memtotal_kb={memtotal}\n\
             linux devices=4010000000.pcie,psci,3f200000.pl011\nlinux boot=1\n",
            cpus - 1
        );
        for round in 1..=WORKLOAD_ROUNDS {
            text.push_str(&format!("linux counter={round} md5={WORKLOAD_MD5}\n"));
        }
        text.push_str(last);
        text.push('\n');
        text
    }

    fn with_ticker(linux: &str) -> Outcome {
        let lines: Vec<&str> = linux.lines().collect();
        let (first, second) = lines.split_at(lines.len() / 2);
        // Each boot's kernel log says it got Bulkhead's seeds.
        let seeded = "[linux] [    0.000000] random: crng init done\n\
                      [linux] [    0.008463] KASLR enabled\n"
            .repeat(linux.matches("linux userspace ").count());
        let uart0 = format!(
            "bulkhead: starting\n{seeded}[ticker] ticker progress=4\n{}\n[ticker] ticker progress=8\n\
             {}\n[ticker] ticker progress=12\n",
            first.join("\n"),
            second.join("\n")
        );
        let uart1: String = (1..=12)
            .map(|p| format!("ticker progress={p} ticks=1\n"))
            .collect();
        Outcome {
            uart: [uart0, uart1 + "ticker done progress=12\n"],
            exit_code: Some(0),
            ..Outcome::default()
        }
    }

    #[test]
    fn accepts_a_good_boot() {
        let linux = boot_lines(2, 233_156, "linux poweroff");
        check_linux_with_ticker(&with_ticker(&linux), 1).unwrap();
    }

    #[test]
    fn refuses_a_boot_without_seeds() {
        let linux = boot_lines(2, 233_156, "linux poweroff");
        let mut outcome = with_ticker(&linux);
        outcome.uart[0] =
            outcome.uart[0].replace("KASLR enabled", "KASLR disabled due to lack of seed");
        assert!(check_linux_with_ticker(&outcome, 1)
            .unwrap_err()
            .contains("KASLR enabled"));
    }

    #[test]
    fn refuses_wrong_figures() {
        let linux = boot_lines(1, 233_156, "linux poweroff");
        assert!(check_linux_with_ticker(&with_ticker(&linux), 1).is_err());
        let linux = boot_lines(2, 100_000, "linux poweroff");
        assert!(check_linux_with_ticker(&with_ticker(&linux), 1).is_err());
        let linux = boot_lines(2, 233_156, "linux poweroff").replace(WORKLOAD_MD5, "00");
        assert!(check_linux_with_ticker(&with_ticker(&linux), 1).is_err());
    }

    #[test]
    fn alone_single_cpu() {
        let mut text = boot_lines(1, 100_000, "linux poweroff");
        text = text.replace("online=0-0", "online=0");
        let outcome = Outcome {
            uart: [text, String::new()],
            exit_code: Some(0),
            ..Outcome::default()
        };
        check_linux_alone(&outcome, 1, 128).unwrap();
        assert!(check_linux_alone(&outcome, 1, 512).is_err());
    }
}
