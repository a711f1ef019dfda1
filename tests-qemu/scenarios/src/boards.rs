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

/// Where the rpi4 twins of the QEMU virt scenarios load their guests: in
/// Bulkhead's reserved first 256 MiB, past its image, heap and stacks
/// (0..64 MiB) and below the board DTB QEMU puts at 128 MiB, one 16 MiB
/// slot each (images are 1 MiB).
const RPI4_GUEST_SLOTS: [u64; 4] = [0x0400_0000, 0x0500_0000, 0x0600_0000, 0x0700_0000];

const RPI4_SGI_ISOLATION_MODULES: &[Module] = &[
    Module {
        address: RPI4_GUEST_SLOTS[0],
        guest: "irq_sgi",
    },
    Module {
        address: RPI4_GUEST_SLOTS[1],
        guest: "irq_listener",
    },
];

const RPI4_SPI_OWNERSHIP_MODULES: &[Module] = &[
    Module {
        address: RPI4_GUEST_SLOTS[0],
        guest: "irq_intruder",
    },
    Module {
        address: RPI4_GUEST_SLOTS[1],
        guest: "irq_owner",
    },
];

const RPI4_ISOLATION_MODULES: &[Module] = &[
    Module {
        address: RPI4_GUEST_SLOTS[0],
        guest: "attacker",
    },
    Module {
        address: RPI4_GUEST_SLOTS[1],
        guest: "attacker",
    },
    Module {
        address: RPI4_GUEST_SLOTS[2],
        guest: "attacker",
    },
    Module {
        address: RPI4_GUEST_SLOTS[3],
        guest: "victim",
    },
];

/// What the rpi4 isolation attackers read, by partition id (the bootargs
/// `target=` of tests-qemu/layouts/rpi4_isolation.dtso): the victim's
/// checksummed block (its PA 0x2000_0000 + 16 MiB), Bulkhead's heap and the
/// victim's mini UART. Each is outside that attacker's map.
pub const RPI4_ATTACK_TARGETS: [(&str, u64); 3] = [
    ("attacker-0", 0x2100_0000),
    ("attacker-1", 0x0200_0000),
    ("attacker-2", 0xfe21_5040),
];

/// The scenario `cargo xtask run --board NAME` boots when given no layout.
pub fn demo(board: &str) -> Option<Scenario> {
    scenarios(board).into_iter().next()
}

/// The scenarios of `board` (by its `--board` name).
pub fn scenarios(board: &str) -> Vec<Scenario> {
    match board {
        "rpi4" => vec![
        Scenario {
            name: "rpi4_linux_beside_bare",
            description: "Bulkhead on QEMU raspi4b with Debian's bcm2711-rpi-4-b.dtb: maps RAM from 0 as normal memory and the SoC devices as device memory from the board DT, releases the other cores from the spin table, drives the GIC-400 (GICv2); Debian's Linux boots to userspace on cores 0-1 (256 MiB, IPA != PA, its virtual console) beside the bare-metal ticker on cores 2-3; both power off and Bulkhead powers the board off through the BCM2835 watchdog (QEMU exits)",
            layout: "tests-qemu/layouts/rpi4.dtso",
            modules: RPI4_MODULES,
            timeout_secs: 180,
            icount: false,
            check: check_rpi4_linux_beside_bare,
        },
        // The twins of QEMU virt scenarios: the same guests and checks on
        // the GIC-400, RAM from 0 and the BCM2711's devices. QEMU exits by
        // itself after Bulkhead's watchdog power-off (status 0), as it does
        // after PSCI SYSTEM_OFF on virt, so the checks' clean-exit
        // assertion holds unchanged.
        Scenario {
            name: "rpi4_irq_sgi_isolation",
            description: "irq_sgi_isolation on QEMU raspi4b: SGIs a partition aims through GICD_SGIR at cores it lacks (target list, other cluster, broadcast) never reach the partition on them",
            layout: "tests-qemu/layouts/rpi4_irq_sgi_isolation.dtso",
            modules: RPI4_SGI_ISOLATION_MODULES,
            timeout_secs: 40,
            icount: false,
            check: crate::scenarios::interrupts::check_sgi_isolation,
        },
        Scenario {
            name: "rpi4_irq_spi_ownership",
            description: "irq_spi_ownership on QEMU raspi4b: enabling, pending, routing or disabling the SPI of another partition's mini UART (UART1, INTID 125; UART0 is Bulkhead's and QEMU models no other UART) has no effect; that UART's own interrupt reaches only its owner. The interrupt is the transmit one, not a receive one: QEMU's mini UART has no loopback and nothing feeds its receiver",
            layout: "tests-qemu/layouts/rpi4_irq_spi_ownership.dtso",
            modules: RPI4_SPI_OWNERSHIP_MODULES,
            timeout_secs: 40,
            icount: false,
            check: crate::scenarios::interrupts::check_spi_ownership_mini_uart,
        },
        Scenario {
            name: "rpi4_isolation",
            description: "isolation on QEMU raspi4b: three attackers reading the victim's RAM, Bulkhead's heap and the victim's mini UART at their PAs on this board take a synchronous external abort in their own vectors and power off; the victim runs on untouched",
            layout: "tests-qemu/layouts/rpi4_isolation.dtso",
            modules: RPI4_ISOLATION_MODULES,
            timeout_secs: 40,
            icount: false,
            check: |outcome| {
                crate::scenarios::check_isolation_against(
                    outcome,
                    crate::scenarios::Stage2Fault::Deliver,
                    &RPI4_ATTACK_TARGETS,
                )
            },
        },
        Scenario {
            name: "rpi4_ckpt_rollback",
            description: "ckpt_rollback on QEMU raspi4b: a two-vCPU FP/timer workload checkpointed at step K (store in RAM above Bulkhead's 256 MiB), run to M, rolled back and re-run ends with the uninterrupted result",
            layout: "tests-qemu/layouts/rpi4_ckpt_rollback.dtso",
            modules: &[Module {
                address: RPI4_GUEST_SLOTS[0],
                guest: "ckpt_rollback",
            }],
            timeout_secs: 60,
            icount: false,
            check: crate::scenarios::checkpoint::check_rollback,
        },
        Scenario {
            name: "rpi4_ckpt_on_fault_restore",
            description: "ckpt_on_fault_restore on QEMU raspi4b: a guest that crashes after a checkpoint is rolled back to it (on-fault = \"restore\") and completes",
            layout: "tests-qemu/layouts/rpi4_ckpt_on_fault_restore.dtso",
            modules: &[Module {
                address: RPI4_GUEST_SLOTS[0],
                guest: "ckpt_fault",
            }],
            timeout_secs: 60,
            icount: false,
            check: crate::scenarios::checkpoint::check_on_fault_restore,
        },
        ],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpi4_table_is_consistent() {
        let scenarios = scenarios("rpi4");
        let virt: Vec<&str> = crate::all().iter().map(|s| s.name).collect();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
        for (index, s) in scenarios.iter().enumerate() {
            assert!(s.name.starts_with("rpi4_"), "{}", s.name);
            assert!(
                !virt.contains(&s.name),
                "{} is also a QEMU virt scenario",
                s.name
            );
            assert!(
                scenarios[..index].iter().all(|other| other.name != s.name),
                "duplicate {}",
                s.name
            );
            assert!(
                std::path::Path::new(root).join(s.layout).exists(),
                "{}: missing {}",
                s.name,
                s.layout
            );
            for module in s.modules {
                // In Bulkhead's reserved 256 MiB, past its own 64 MiB and
                // clear of the 4 MiB it keeps for the board DTB at 128 MiB.
                assert!(
                    (0x0400_0000..0x1000_0000).contains(&module.address)
                        && !(0x0800_0000..0x0840_0000).contains(&module.address),
                    "{}: module at {:#x}",
                    s.name,
                    module.address
                );
            }
        }
        assert_eq!(
            demo("rpi4").map(|s| s.name),
            Some("rpi4_linux_beside_bare"),
            "cargo xtask run --board rpi4 boots the first"
        );
    }
}
