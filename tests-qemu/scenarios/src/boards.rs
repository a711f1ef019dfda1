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
            name: "rpi4_bringup",
            description: "Bulkhead on QEMU raspi4b with Debian's bcm2711-rpi-4-b.dtb: reads the board DT, maps RAM from 0 as normal memory and the SoC devices as device memory, releases the 3 other cores from the spin table, names the GIC-400 this build does not drive yet and powers off through the BCM2835 watchdog (QEMU exits)",
            layout: "tests-qemu/layouts/rpi4.dtso",
            modules: RPI4_MODULES,
            timeout_secs: 60,
            icount: false,
            check: check_rpi4_bringup,
        }],
        _ => Vec::new(),
    }
}

/// Until GICv2 is supported: the bring-up lines, then the GIC line.
fn check_rpi4_bringup(outcome: &Outcome) -> Result<(), String> {
    let log = &outcome.uart[0];
    for expected in [
        "starting at EL2 on rpi4",
        "EL2 map from the board DT: 960 MiB normal,",
        "3 of 3 secondary CPU(s) up (enable-method spin-table)",
        "board interrupt controller /soc/interrupt-controller@40041000 (arm,gic-400) is not supported by this build",
        "no PSCI firmware: powering off through the BCM2835 power-management watchdog",
    ] {
        if !log.contains(expected) {
            return Err(format!("no line with `{expected}`"));
        }
    }
    // The watchdog shuts QEMU down: it exits by itself.
    if outcome.exit_code != Some(0) {
        return Err(format!(
            "QEMU did not exit by itself after the watchdog power-off (exit {:?}, timed out {})",
            outcome.exit_code, outcome.timed_out
        ));
    }
    for cpu in 1..=3 {
        let line = format!("CPU {cpu} (MPIDR {cpu:#x}) up at EL2; parked");
        if !log.contains(&line) {
            return Err(format!("no line `{line}`"));
        }
    }
    Ok(())
}
