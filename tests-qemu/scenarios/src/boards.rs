//! Scenarios of boards other than QEMU virt, booted by `cargo xtask test --board NAME`.

use crate::{Module, Outcome, Scenario};

/// The rpi4 demo's boot modules (tests-qemu/layouts/rpi4.dtso).
pub const RPI4_MODULES: &[Module] = &[
    Module {
        address: 0x0400_0000,
        guest: "linux:kernel",
    },
    Module {
        address: 0x0900_0000,
        guest: "linux:initramfs",
    },
    Module {
        address: 0x0f00_0000,
        guest: "ticker",
    },
];

/// The scenario `cargo xtask run --board NAME` boots when given no layout.
pub fn demo(board: &str) -> Option<Scenario> {
    scenarios(board).into_iter().next()
}

/// The scenarios of `board` (by its `--board` name).
pub fn scenarios(board: &str) -> Vec<Scenario> {
    match board {
        "rpi4" => vec![Scenario {
            name: "rpi4_linux_beside_bare",
            description: "Bulkhead on QEMU raspi4b with Debian's bcm2711-rpi-4-b.dtb: maps RAM from 0 as normal memory and the SoC devices as device memory from the board DT, releases the other cores from the spin table, drives the GIC-400 (GICv2); Debian's Linux boots to userspace on cores 0-1 (256 MiB, IPA != PA, its virtual console) beside the bare-metal ticker on cores 2-3; both power off and Bulkhead powers the board off through the BCM2835 watchdog (QEMU exits)",
            layout: "tests-qemu/layouts/rpi4.dtso",
            modules: RPI4_MODULES,
            timeout_secs: 180,
            icount: false,
            check: check_rpi4_linux_beside_bare,
        }],
        _ => Vec::new(),
    }
}

fn check_rpi4_linux_beside_bare(outcome: &Outcome) -> Result<(), String> {
    let log = &outcome.uart[0];
    for expected in [
        "starting at EL2 on rpi4",
        "EL2 map from the board DT: 960 MiB normal,",
        "partition linux (id 0): 2 vCPU(s), 256 MiB, entry 0x80000000",
        "partition ticker (id 1): 2 vCPU(s), 32 MiB, entry 0x40000000",
        "[ticker] ticker done progress=",
        "all partitions are off; powering off",
        "heap: 0 allocations after boot",
        "no PSCI firmware: powering off through the BCM2835 power-management watchdog",
    ] {
        if !log.contains(expected) {
            return Err(format!("no line with `{expected}`"));
        }
    }
    let boots = crate::linux::linux_boots(log);
    let [boot] = boots.as_slice() else {
        return Err(format!(
            "Linux reached userspace {} times, expected once",
            boots.len()
        ));
    };
    let line = |prefix: &str| {
        boot.iter()
            .map(|(_, line)| *line)
            .find(|line| line.starts_with(prefix))
            .ok_or(format!("linux: no `{prefix}` line"))
    };
    // Its two cores, its 256 MiB (less what the kernel keeps), and only its
    // virtual console: the board's devices never reach it.
    for (prefix, expected) in [
        ("linux nproc=", "linux nproc=2"),
        ("linux online=", "linux online=0-1"),
        (
            "linux devices=",
            "linux devices=psci,serial8250,3f200000.pl011",
        ),
        ("linux pci=", "linux pci="),
        ("linux poweroff", "linux poweroff"),
    ] {
        let found = line(prefix)?;
        if found != expected {
            return Err(format!("linux: `{found}`, expected `{expected}`"));
        }
    }
    let memory = line("linux memtotal_kb=")?;
    match crate::scenarios::parse::field_u64(memory, "memtotal_kb") {
        Some(kb) if (200 * 1024..256 * 1024).contains(&kb) => {}
        _ => {
            return Err(format!(
                "linux: `{memory}`, expected a little under 256 MiB"
            ))
        }
    }
    let digests: Vec<&str> = boot
        .iter()
        .filter_map(|(_, line)| line.strip_prefix("linux counter="))
        .filter_map(|rest| rest.split_once(" md5=").map(|(_, md5)| md5))
        .collect();
    if digests.is_empty() || digests.iter().any(|md5| *md5 != digests[0]) {
        return Err(format!(
            "linux: workload digests {digests:?}, expected equal ones"
        ));
    }
    // The watchdog shuts QEMU down: it exits by itself.
    if outcome.exit_code != Some(0) {
        return Err(format!(
            "QEMU did not exit by itself after the watchdog power-off (exit {:?}, timed out {})",
            outcome.exit_code, outcome.timed_out
        ));
    }
    Ok(())
}
