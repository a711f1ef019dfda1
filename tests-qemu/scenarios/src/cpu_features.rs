//! The CPU-feature scenarios: what guests see of the CPU (ID registers, SVE length) and that a checkpoint holds all of it.
//!
//! They run on cortex-a72, neoverse-v1 and max (see `cpu_models`); the
//! guest prints MIDR_EL1, from which the checks know the model.

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};

/// MIDR_EL1 part numbers (bits 15:4) of the models, and their SVE length in bytes.
const MODELS: [(&str, u64, usize); 3] = [
    ("cortex-a72", 0xd08, 0),
    ("neoverse-v1", 0xd40, 32),
    // QEMU's max reports part 0x051 (implementer 0): SVE up to 2048 bits.
    ("max", 0x051, 256),
];

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "cpu_features",
            description: "the ID registers show SVE and PAuth where the core has them, never MTE, SME, EL2 or EL3; SVE reaches the core's full vector length",
            layout: "tests-qemu/layouts/cpu_features.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "cpu_features" }],
            timeout_secs: 30,
            icount: false,
            check: check_cpu_features,
        },
        Scenario {
            name: "ckpt_sve",
            description: "Z0..Z31, P0..P15 and FFR filled with a pattern at the full vector length survive checkpoint, scribble, ZCR_EL1 shortened and rollback: every byte equal",
            layout: "tests-qemu/layouts/ckpt_sve.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_sve" }],
            timeout_secs: 30,
            icount: false,
            check: check_ckpt_sve,
        },
        Scenario {
            name: "ckpt_sve_linux",
            description: "Linux checkpointed every 25 ms while a static SVE program holds a new pattern in the whole register file each round; a manager rolls Linux back mid-run: zero mismatches at the kernel's full vector length",
            layout: "tests-qemu/layouts/ckpt_sve_linux.dtso",
            modules: &[
                Module { address: 0x4400_0000, guest: "linux:kernel" },
                Module { address: 0x4900_0000, guest: "linux:initramfs" },
                Module { address: 0x4f00_0000, guest: "ckpt_linux_manager" },
            ],
            timeout_secs: 180,
            icount: false,
            check: check_ckpt_sve_linux,
        },
        Scenario {
            name: "ckpt_pauth",
            description: "an address signed with key K1 before a checkpoint authenticates after the guest switched to K2 and was rolled back (the keys are restored)",
            layout: "tests-qemu/layouts/ckpt_pauth.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "ckpt_pauth" }],
            timeout_secs: 30,
            icount: false,
            check: check_ckpt_pauth,
        },
    ]
}

/// A 4-bit field of an ID register value.
fn id_field(value: u64, shift: u32) -> u64 {
    (value >> shift) & 0xf
}

/// The model a guest's `features midr=` (or any line's `midr=`) names.
fn model(lines: &[(usize, &str)]) -> Result<(&'static str, usize), String> {
    let (_, line) = find("the guest's MIDR line", lines, "features midr=")?;
    let midr = field_u64(line, "midr").ok_or_else(|| format!("no midr in `{line}`"))?;
    let part = (midr >> 4) & 0xfff;
    MODELS
        .iter()
        .find(|(_, known, _)| *known == part)
        .map(|&(name, _, vl)| (name, vl))
        .ok_or_else(|| format!("unknown CPU part {part:#x} in `{line}`"))
}

/// The value of `features <name>=` from the guest's lines.
fn id_value(lines: &[(usize, &str)], name: &str) -> Result<u64, String> {
    let prefix = format!("features {name}=");
    let (_, line) = find(name, lines, &prefix)?;
    field_u64(line, name).ok_or_else(|| format!("no {name} value in `{line}`"))
}

fn check_cpu_features(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let lines = guest_lines(outcome, "cpu_features");
    let (name, vl) = model(&lines)?;
    let pfr0 = id_value(&lines, "pfr0")?;
    let pfr1 = id_value(&lines, "pfr1")?;
    let isar1 = id_value(&lines, "isar1")?;
    let hidden = [
        ("EL2", pfr0, 8),
        ("EL3", pfr0, 12),
        ("RAS", pfr0, 28),
        ("AMU", pfr0, 44),
        ("MTE", pfr1, 8),
        ("SME", pfr1, 24),
        ("NMI", pfr1, 36),
        ("GCS", pfr1, 44),
    ];
    for (feature, value, shift) in hidden {
        if id_field(value, shift) != 0 {
            return Err(format!("{name}: the guest sees {feature} ({value:#x})"));
        }
    }
    for register in ["pfr2", "smfr0", "mmfr3"] {
        let value = id_value(&lines, register)?;
        if value != 0 {
            return Err(format!(
                "{name}: {register} = {value:#x}, expected all hidden"
            ));
        }
    }
    let sve = id_field(pfr0, 32) != 0;
    let pauth = id_field(isar1, 4) != 0 || id_field(isar1, 8) != 0;
    if sve != (vl != 0) || pauth != (vl != 0) {
        return Err(format!(
            "{name}: SVE shown {sve}, PAuth shown {pauth}; the core has {}",
            if vl != 0 { "both" } else { "neither" }
        ));
    }
    let (_, line) = find("the SVE line", &lines, "features sve")?;
    expect_fields(name, line, &[("vl", vl as u64)])?;
    if vl != 0 {
        expect_fields(name, line, &[("zcr", 0xf)])?;
    }
    find("the last line", &lines, "features done").map(|_| ())
}

fn check_ckpt_sve(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let lines = guest_lines(outcome, "ckpt_sve");
    let (_, taken) = find("the checkpoint", &lines, "sve taken")?;
    let vl = field_u64(taken, "vl").ok_or_else(|| format!("no vl in `{taken}`"))?;
    if vl != 32 && vl != 256 {
        return Err(format!(
            "vector length {vl} bytes is not the core's full one: `{taken}`"
        ));
    }
    let (_, restored) = find("the rollback", &lines, "sve restored")?;
    expect_fields(
        "after the rollback",
        restored,
        &[("vl", vl), ("zcr", 0xf), ("mismatches", 0)],
    )?;
    expect_flags("after the rollback", restored, &[("ffr_ok", true)])
}

fn check_ckpt_pauth(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let lines = guest_lines(outcome, "ckpt_pauth");
    let (_, taken) = find("the checkpoint", &lines, "pauth taken")?;
    expect_flags("with key 2", taken, &[("differs", true)])?;
    let (_, restored) = find("the rollback", &lines, "pauth restored")?;
    expect_flags(
        "after the rollback",
        restored,
        &[("key_restored", true), ("authenticated", true)],
    )
}

fn check_ckpt_sve_linux(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out {
        return Err("timed out".into());
    }
    let text = &outcome.uart[0];
    if let Some(error) = super::checkpoint::KERNEL_ERRORS
        .iter()
        .find(|error| text.contains(*error))
    {
        return Err(format!("the kernel reported `{error}`"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let position = |needle: &str| lines.iter().position(|line| line.contains(needle));
    // The kernel's own view of the longest vector: what the program must get.
    let kernel_vl = lines
        .iter()
        .find_map(|line| {
            let at = line.find("SVE: maximum available vector length ")?;
            line[at..].split_whitespace().nth(5)?.parse::<u64>().ok()
        })
        .ok_or("Linux printed no `SVE: maximum available vector length`")?;
    let restored = position("partition linux restored to checkpoint")
        .ok_or("no `partition linux restored to checkpoint` line")?;
    let sve: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| Some((index, &line[line.find("linux sve ")?..])))
        .collect();
    if !sve.iter().any(|(index, _)| *index < restored)
        || !sve.iter().any(|(index, _)| *index > restored)
    {
        return Err(format!(
            "the rollback (UART0 line {restored}) did not land while sve_check ran ({} lines of it)",
            sve.len()
        ));
    }
    for (_, line) in &sve {
        if line.starts_with("linux sve exit=") {
            continue;
        }
        expect_fields("sve_check", line, &[("mismatches", 0), ("vl", kernel_vl)])?;
    }
    let (_, done) = sve
        .iter()
        .find(|(_, line)| line.starts_with("linux sve done"))
        .ok_or("no `linux sve done` line")?;
    if kernel_vl != 32 && kernel_vl != 256 {
        return Err(format!(
            "Linux sees {kernel_vl}-byte vectors, not the core's full length"
        ));
    }
    if !text.contains("linux sve exit=0") || !text.contains("linux shell answers: OK") {
        return Err(format!(
            "sve_check or the shell did not finish cleanly: `{done}`"
        ));
    }
    Ok(())
}
