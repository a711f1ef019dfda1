//! The PCI passthrough scenarios: an `edu` function behind Bulkhead's virtual host bridge and SMMU.
//!
//! Guests `pci_edu`, `pci_dma_attacker`, `pci_dma_victim` and
//! `pci_edu_checkpoint` print through CONSOLE_WRITE, so their lines and
//! Bulkhead's reports land on UART0 in one order. Expected checksums are
//! recomputed here with `bulkhead_workload` (the DMA patterns and FNV-1a of
//! `bulkhead_workload::dma`, the fill pattern of the victim and the
//! checkpoint guest's area).

use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};
use bulkhead_workload::{self as workload, dma};

/// What the bus scan must show of an edu (vendor:device, class code, BAR0 bytes).
pub const EDU_ID: &str = "1234:11e8";
/// Class code (base << 16 | sub << 8 | prog-if) as QEMU 10 reads it for edu (PCI_CLASS_OTHERS = 0xff in the 16-bit class word).
pub const EDU_CLASS: u64 = 0x00_ff00;
pub const EDU_BAR_BYTES: u64 = 1 << 20;
/// What the edu's ident register reads.
pub const EDU_IDENT: u64 = 0x0100_00ed;
/// Where Bulkhead assigns BARs (IPA == PA).
pub const BAR_WINDOW: std::ops::Range<u64> = 0x1000_0000..0x3eff_0000;
/// `pci_edu`'s loop rounds and factorial (mirror `pci_edu.rs`).
pub const EDU_ROUNDS: u64 = 1000;
pub const FACTORIAL_N: u64 = 10;
pub const FACTORIAL_RESULT: u64 = 3_628_800;
/// `pci_dma_attacker`'s targets, in order (mirror `pci_dma_attacker.rs`).
pub const ATTACK_TARGETS: [(&str, u64); 5] = [
    ("unmapped_ipa", 0x7000_0000),
    ("victim_image", 0x5100_1000),
    ("victim_data", 0x5140_1000),
    ("bulkhead_heap", 0x4100_0000),
    ("victim_checkpoint_store", 0x6000_1000),
];
/// Words `pci_dma_victim` fills and checksums (8 MiB, mirror `pci_dma_victim.rs`).
pub const VICTIM_WORDS: u64 = (8 << 20) / workload::WORD_BYTES;
/// Words of `pci_edu_checkpoint`'s hashed area (4 MiB, mirror `pci_edu_checkpoint.rs`).
pub const CHECKPOINT_AREA_WORDS: u64 = (4 << 20) / workload::WORD_BYTES;
/// The byte `pci_edu_checkpoint` scribbles over its buffer A.
pub const CHECKPOINT_SCRIBBLE: u8 = 0x55;

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "pci_edu",
            description: "a passed-through edu behind the virtual host bridge: scan shows only it (MSI hidden), factorial by INTx, DMA round trips through the SMMU at IPA != PA",
            layout: "tests-qemu/layouts/pci_edu.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "pci_edu" }],
            timeout_secs: 60,
            icount: true,
            check: check_pci_edu,
        },
        Scenario {
            name: "pci_two_edu",
            description: "two partitions with one edu each DMA concurrently: each sees only its own function and gets back only its own patterns",
            layout: "tests-qemu/layouts/pci_two_edu.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "pci_edu" },
                Module { address: 0x4b00_0000, guest: "pci_edu" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_pci_two_edu,
        },
        Scenario {
            name: "pci_dma_isolation",
            description: "a device's DMA at an unmapped IPA, another partition's RAM, Bulkhead's heap and a checkpoint store is aborted and reported once per page; the attacker goes on, the victim's data and checkpoint stay intact",
            layout: "tests-qemu/layouts/pci_dma_isolation.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "pci_dma_attacker" },
                Module { address: 0x4b00_0000, guest: "pci_dma_victim" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_pci_dma_isolation,
        },
        Scenario {
            name: "pci_dma_isolation_stop",
            description: "with on-dma-fault = \"stop\" the attacker is stopped at its first aborted DMA; the victim runs on intact",
            layout: "tests-qemu/layouts/pci_dma_isolation_stop.dtso",
            modules: &[
                Module { address: 0x4a00_0000, guest: "pci_dma_attacker" },
                Module { address: 0x4b00_0000, guest: "pci_dma_victim" },
            ],
            timeout_secs: 60,
            icount: true,
            check: check_pci_dma_isolation_stop,
        },
        Scenario {
            name: "pci_checkpoint_dma",
            description: "a checkpoint taken with a DMA in flight raises no DMA fault, and a restore also undoes what a DMA wrote after the checkpoint",
            layout: "tests-qemu/layouts/pci_checkpoint_dma.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "pci_edu_checkpoint" }],
            timeout_secs: 60,
            icount: true,
            check: check_pci_checkpoint_dma,
        },
        Scenario {
            name: "irq_level_eoi_first",
            description: "a passed-through level interrupt (edu INTx) whose handler EOIs before it clears the device is taken exactly once per device event, as on a bare machine",
            layout: "tests-qemu/layouts/irq_level_eoi_first.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "irq_level_eoi_first" }],
            timeout_secs: 60,
            icount: true,
            check: check_irq_level_eoi_first,
        },
        Scenario {
            name: "pci_absent_function_at_boot",
            description: "a layout naming a PCI function the bus does not have passes the host check (it cannot enumerate) and is refused at boot with a layout error line naming node and property",
            layout: "tests-qemu/layouts/pci_absent_function.dtso",
            modules: &[Module { address: 0x4a00_0000, guest: "pci_edu" }],
            timeout_secs: 30,
            icount: true,
            check: check_pci_absent_function,
        },
    ]
}

/// The refusal Bulkhead prints for `pci_absent_function.dtso` once it has enumerated the bus.
pub const ABSENT_FUNCTION_ERROR: &str = "layout error: /chosen/bulkhead/partition@0: pci-functions: 00:05.0 is not present on /pcie@10000000 (present: 00:00.0, 00:02.0, 00:03.0, 00:04.0)";

fn check_pci_absent_function(outcome: &Outcome) -> Result<(), String> {
    if outcome.timed_out || outcome.exit_code.is_none() {
        return Err("QEMU did not exit by itself after the layout was refused".into());
    }
    if !outcome.check_errors.is_empty() {
        return Err(format!(
            "the host validator refused the layout: {:?}",
            outcome.check_errors
        ));
    }
    let uart0: Vec<&str> = lines(&outcome.uart[0]).collect();
    if !uart0.contains(&ABSENT_FUNCTION_ERROR) {
        return Err(format!("no `{ABSENT_FUNCTION_ERROR}` line"));
    }
    if !uart0
        .iter()
        .any(|line| line.contains("layout refused; no partition started"))
    {
        return Err("no `layout refused; no partition started` line".into());
    }
    if uart0.iter().any(|line| line.starts_with("[edu")) {
        return Err("a partition ran".into());
    }
    Ok(())
}

/// A Bulkhead report of a DMA the SMMU aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaFault {
    pub line_index: usize,
    pub label: String,
    pub id: u64,
    /// `bb:dd.f`.
    pub device: String,
    pub stream: u64,
    /// `read` or `write`.
    pub access: String,
    /// The bus address (the partition's IPA) that faulted.
    pub address: u64,
    /// What follows the address, e.g. `translation fault` (may be empty).
    pub kind: String,
}

/// Every DMA fault report in `text`: lines
/// `bulkhead: warning: dma fault: partition <label> (id <n>) device <bb:dd.f> (stream 0x<s>) <read|write> at IPA 0x<address>: <fault type>`
/// (one per partition, device and page; Bulkhead logs them at warning
/// level). Also accepted: no level word, no `IPA `, a space before the
/// colon, no fault type. The only place that knows the format.
pub fn dma_faults(text: &str) -> Vec<DmaFault> {
    lines(text)
        .enumerate()
        .filter_map(|(line_index, line)| {
            let rest = line.strip_prefix("bulkhead: ")?;
            let rest = rest
                .strip_prefix("warning: ")
                .or_else(|| rest.strip_prefix("error: "))
                .unwrap_or(rest);
            let rest = rest.strip_prefix("dma fault: partition ")?;
            let (label, rest) = rest.split_once(" (id ")?;
            let (id, rest) = rest.split_once(") device ")?;
            let (device, rest) = rest.split_once(" (stream ")?;
            let (stream, rest) = rest.split_once(") ")?;
            let (access, rest) = rest.split_once(" at ")?;
            let rest = rest.strip_prefix("IPA ").unwrap_or(rest);
            let end = rest
                .find(|c: char| c == ':' || c.is_whitespace())
                .unwrap_or(rest.len());
            let (address, kind) = rest.split_at(end);
            let kind = kind.trim_start().strip_prefix(':').unwrap_or(kind).trim();
            Some(DmaFault {
                line_index,
                label: label.to_string(),
                id: u64::try_from(number(id)?).ok()?,
                device: device.to_string(),
                stream: u64::try_from(number(stream)?).ok()?,
                access: access.to_string(),
                address: u64::try_from(number(address)?).ok()?,
                kind: kind.to_string(),
            })
        })
        .collect()
}

/// Stream ID of a bus-0 function `00:dd.f` (its requester ID).
pub fn stream_id(bdf: &str) -> Option<u64> {
    let (bus, rest) = bdf.split_once(':')?;
    let (device, function) = rest.split_once('.')?;
    let bus = u64::from_str_radix(bus, 16).ok()?;
    let device = u64::from_str_radix(device, 16).ok()?;
    let function = u64::from_str_radix(function, 16).ok()?;
    Some(bus << 8 | device << 3 | function)
}

/// Checks the bus scan and bring-up lines of a partition given exactly the
/// edu `bdf` with INTx `intid`; returns its BAR0.
fn expect_edu_scan(
    what: &str,
    lines: &[(usize, &str)],
    bdf: &str,
    intid: u64,
) -> Result<u64, String> {
    let functions = find_all(lines, "pci function ");
    let [(_, line)] = functions.as_slice() else {
        return Err(format!(
            "{what}: expected exactly one `pci function` line ({bdf}), saw {functions:?}"
        ));
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.get(2) != Some(&bdf) {
        return Err(format!("{what}: `{line}`: expected function {bdf}"));
    }
    if field(line, "id") != Some(EDU_ID) {
        return Err(format!("{what}: `{line}`: expected id={EDU_ID}"));
    }
    expect_fields(
        what,
        line,
        &[("class", EDU_CLASS), ("bar0_size", EDU_BAR_BYTES)],
    )?;
    let bar0 = field_u64(line, "bar0").ok_or(format!("{what}: `{line}`: no memory bar0"))?;
    if !BAR_WINDOW.contains(&bar0)
        || !BAR_WINDOW.contains(&(bar0 + EDU_BAR_BYTES - 1))
        || !bar0.is_multiple_of(0x1000)
    {
        return Err(format!(
            "{what}: `{line}`: bar0 not a page-aligned range inside {BAR_WINDOW:#x?}"
        ));
    }
    let (_, scan) = find(what, lines, "pci scan functions=")?;
    expect_fields(what, scan, &[("functions", 1)])?;
    let (_, msi) = find(what, lines, "pci msi ")?;
    expect_flags(what, msi, &[("hidden", true)])?;
    let (_, up) = find(what, lines, "edu function=")?;
    if field(up, "function") != Some(bdf) {
        return Err(format!("{what}: `{up}`: expected function={bdf}"));
    }
    expect_fields(what, up, &[("ident", EDU_IDENT), ("intid", intid)])?;
    expect_flags(what, up, &[("live", true)])?;
    Ok(bar0)
}

/// Host value of the FNV-1a of one DMA page of pattern `seed(partition, round)`.
fn page_sum(partition: u64, round: u64) -> u64 {
    dma::pattern_sum(dma::seed(partition, round), dma::DMA_WORDS)
}

/// Checks one `pci_edu` partition's lines; returns its BAR0.
fn expect_edu_partition(
    outcome: &Outcome,
    label: &str,
    partition: u64,
    bdf: &str,
    intid: u64,
) -> Result<u64, String> {
    let lines = guest_lines(outcome, label);
    let bar0 = expect_edu_scan(label, &lines, bdf, intid)?;
    let (_, factorial) = find(label, &lines, "edu factorial ")?;
    expect_fields(
        label,
        factorial,
        &[
            ("n", FACTORIAL_N),
            ("result", FACTORIAL_RESULT),
            ("irqs", 1),
        ],
    )?;
    let first = page_sum(partition, 0);
    let (_, transfer) = find(label, &lines, "edu dma ")?;
    expect_fields(
        label,
        transfer,
        &[
            ("bytes", dma::DMA_BYTES),
            ("src_sum", first),
            ("dst_sum", first),
        ],
    )?;
    expect_flags(label, transfer, &[("equal", true)])?;
    let (_, rounds) = find(label, &lines, "edu rounds=")?;
    expect_fields(
        label,
        rounds,
        &[
            ("rounds", EDU_ROUNDS),
            ("mismatches", 0),
            ("last_sum", page_sum(partition, EDU_ROUNDS)),
            ("dma_irqs", 2 * (EDU_ROUNDS + 1)),
            ("empty_irqs", 0),
        ],
    )?;
    find(label, &lines, "edu done")?;
    Ok(bar0)
}

/// No DMA fault report and no stopped partition.
fn expect_no_dma_faults(outcome: &Outcome) -> Result<(), String> {
    let uart0 = &outcome.uart[0];
    if let Some(fault) = dma_faults(uart0).first() {
        return Err(format!("unexpected DMA fault report: {fault:?}"));
    }
    if let Some(line) =
        lines(uart0).find(|line| line.starts_with("bulkhead:") && line.contains("dma fault"))
    {
        return Err(format!("unexpected DMA fault line: {line}"));
    }
    if let Some(stop) = stop_reports(uart0).first() {
        return Err(format!("unexpected stop: {stop:?}"));
    }
    Ok(())
}

fn check_pci_edu(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    expect_no_dma_faults(outcome)?;
    expect_assigned_streams(outcome, 1)?;
    expect_edu_partition(outcome, "edu-a", 0, "00:02.0", 37).map(|_| ())
}

/// `irq_level_eoi_first`'s events (mirror `irq_level_eoi_first.rs`).
pub const LEVEL_EOI_FIRST_EVENTS: u64 = 1000;

fn check_irq_level_eoi_first(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let lines = guest_lines(outcome, "level");
    let (_, line) = find("level", &lines, "level eoi_first ")?;
    expect_fields(
        "level",
        line,
        &[
            ("events", LEVEL_EOI_FIRST_EVENTS),
            ("interrupts", LEVEL_EOI_FIRST_EVENTS),
            ("spurious", 0),
            ("timeouts", 0),
        ],
    )
}

/// Bulkhead's SMMU line: `assigned` streams translate, every other one
/// (the unassigned edu and the disk among them) aborts.
fn expect_assigned_streams(outcome: &Outcome, assigned: u64) -> Result<(), String> {
    let line = lines(&outcome.uart[0])
        .find(|line| line.starts_with("bulkhead: SMMU "))
        .ok_or("no `bulkhead: SMMU` line")?;
    let wanted = format!(" {assigned} assigned, stage 2 only; unassigned streams abort");
    if line.contains(&wanted) {
        Ok(())
    } else {
        Err(format!("SMMU line `{line}`: expected `{wanted}`"))
    }
}

fn check_pci_two_edu(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    expect_no_dma_faults(outcome)?;
    expect_assigned_streams(outcome, 2)?;
    let a = expect_edu_partition(outcome, "edu-a", 0, "00:02.0", 37)?;
    let b = expect_edu_partition(outcome, "edu-b", 1, "00:03.0", 38)?;
    if a.abs_diff(b) < EDU_BAR_BYTES {
        return Err(format!("edu-a bar0={a:#x} and edu-b bar0={b:#x} overlap"));
    }
    Ok(())
}

/// The victim: host checksum before, after (printed after `after_index`,
/// the end of the attack) and after its restore.
fn expect_victim(outcome: &Outcome, after_index: usize) -> Result<(), String> {
    let victim = guest_lines(outcome, "victim");
    let expected = workload::expected_checksum(0..VICTIM_WORDS);
    let (_, before) = find("victim", &victim, "victim checksum before=")?;
    expect_fields("victim", before, &[("before", expected)])?;
    find("victim", &victim, "victim checkpoint taken ")?;
    let (index, after) = find("victim", &victim, "victim checksum after=")?;
    expect_fields("victim", after, &[("after", expected)])?;
    expect_flags("victim", after, &[("equal", true)])?;
    if index < after_index {
        return Err(format!(
            "victim: `{after}` printed before the attack was over (line {index} < {after_index})"
        ));
    }
    let (_, restored) = find("victim", &victim, "victim restored ")?;
    expect_fields("victim", restored, &[("checksum", expected)])?;
    expect_flags("victim", restored, &[("equal", true)])?;
    Ok(())
}

/// The attacker's `start` line of target `index`, if printed.
fn attack_start<'a>(lines: &[(usize, &'a str)], index: usize) -> Option<(usize, &'a str)> {
    let (name, address) = ATTACK_TARGETS[index];
    let prefix = format!("dma attack target={name} addr={address:#x} start");
    lines.iter().find(|(_, text)| *text == prefix).copied()
}

/// Checks that `faults` are exactly one write report by the attacker's
/// 00:02.0 for each of `targets` (in order, each after its `start` line).
fn expect_attack_faults(
    faults: &[DmaFault],
    attacker: &[(usize, &str)],
    targets: usize,
) -> Result<(), String> {
    if faults.len() != targets {
        return Err(format!(
            "{} DMA fault reports, expected {targets} (one per target page): {faults:?}",
            faults.len()
        ));
    }
    for (index, fault) in faults.iter().enumerate() {
        let (name, address) = ATTACK_TARGETS[index];
        let ok = fault.label == "attacker"
            && fault.id == 0
            && fault.device == "00:02.0"
            && Some(fault.stream) == stream_id("00:02.0")
            && fault.access == "write"
            && fault.address & !0xfff == address & !0xfff;
        if !ok {
            return Err(format!(
                "DMA fault report {index}: expected partition attacker (id 0) device 00:02.0 (stream 0x10) write at {address:#x} ({name}), saw {fault:?}"
            ));
        }
        let (start, _) = attack_start(attacker, index)
            .ok_or(format!("attacker: no start line for target {name}"))?;
        if fault.line_index < start {
            return Err(format!(
                "DMA fault report for {name} (line {}) before the attacker aimed at it (line {start})",
                fault.line_index
            ));
        }
    }
    Ok(())
}

fn check_pci_dma_isolation(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let uart0 = &outcome.uart[0];
    if let Some(stop) = stop_reports(uart0).first() {
        return Err(format!(
            "nobody may be stopped with on-dma-fault = report: {stop:?}"
        ));
    }
    let attacker = guest_lines(outcome, "attacker");
    expect_edu_scan("attacker", &attacker, "00:02.0", 37)?;
    for (index, (name, address)) in ATTACK_TARGETS.iter().enumerate() {
        attack_start(&attacker, index).ok_or(format!("attacker: no start line for {name}"))?;
        let prefix = format!("dma attack target={name} addr={address:#x} done ");
        let (_, done) = find("attacker", &attacker, &prefix)?;
        expect_flags(
            "attacker",
            done,
            &[("wrote_back", false), ("leaked", false)],
        )?;
    }
    let (finished, _) = find("attacker", &attacker, "dma attack finished")?;
    expect_attack_faults(&dma_faults(uart0), &attacker, ATTACK_TARGETS.len())?;
    expect_victim(outcome, finished)
}

fn check_pci_dma_isolation_stop(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    let uart0 = &outcome.uart[0];
    let attacker = guest_lines(outcome, "attacker");
    expect_edu_scan("attacker", &attacker, "00:02.0", 37)?;
    let faults = dma_faults(uart0);
    expect_attack_faults(&faults, &attacker, 1)?;
    let stops = stop_reports(uart0);
    let [stop] = stops.as_slice() else {
        return Err(format!(
            "expected exactly one stop report (the attacker), saw {stops:?}"
        ));
    };
    if stop.label != "attacker" || stop.id != 0 || !stop.reason.starts_with("dma fault") {
        return Err(format!(
            "expected `bulkhead: partition attacker (id 0) stopped: dma fault`, saw {stop:?}"
        ));
    }
    if stop.line_index < faults[0].line_index {
        return Err("the stop report came before the DMA fault report".into());
    }
    if let Some((index, line)) = attacker.iter().find(|(index, _)| *index > stop.line_index) {
        return Err(format!(
            "attacker printed after its stop report (line {}): {line} (line {index})",
            stop.line_index
        ));
    }
    for index in 1..ATTACK_TARGETS.len() {
        if let Some((_, line)) = attack_start(&attacker, index) {
            return Err(format!("attacker went on past its first target: {line}"));
        }
    }
    if let Some((_, line)) = attacker
        .iter()
        .find(|(_, text)| text.starts_with("dma attack finished"))
    {
        return Err(format!("attacker finished although stopped: {line}"));
    }
    expect_victim(outcome, stop.line_index)
}

fn check_pci_checkpoint_dma(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    expect_no_guest_errors(outcome)?;
    expect_no_dma_faults(outcome)?;
    let what = "ckpt-edu";
    let lines = guest_lines(outcome, what);
    expect_edu_scan(what, &lines, "00:02.0", 37)?;
    let area = workload::expected_checksum(0..CHECKPOINT_AREA_WORDS);
    let first = page_sum(0, 1);
    let reference = [("area", area), ("a", first), ("c", first)];

    let (prepared_at, prepared) = find(what, &lines, "ckpt dma prepared ")?;
    expect_fields(what, prepared, &reference)?;
    expect_flags(what, prepared, &[("c_equal", true)])?;

    let taken_lines = find_all(&lines, "ckpt dma taken ");
    let [(taken_at, taken)] = taken_lines.as_slice() else {
        return Err(format!(
            "{what}: expected one `ckpt dma taken` line, saw {taken_lines:?}"
        ));
    };
    if field_u64(taken, "generation").unwrap_or(0) == 0 {
        return Err(format!("{what}: `{taken}`: no generation"));
    }
    expect_flags(
        what,
        taken,
        &[("inflight_equal", true), ("unchanged", true)],
    )?;

    let (scribbled_at, scribbled) = find(what, &lines, "ckpt dma scribbled ")?;
    expect_flags(what, scribbled, &[("dma_write_equal", true)])?;
    expect_fields(
        what,
        scribbled,
        &[
            ("a", dma::constant_sum(CHECKPOINT_SCRIBBLE, dma::DMA_BYTES)),
            ("c", page_sum(0, 2)),
        ],
    )?;
    if field_u64(scribbled, "area") == Some(area) {
        return Err(format!(
            "{what}: `{scribbled}`: the scribble did not change the area"
        ));
    }

    let restored_lines = find_all(&lines, "ckpt dma restored=");
    let [(restored_at, restored)] = restored_lines.as_slice() else {
        return Err(format!(
            "{what}: expected one `ckpt dma restored=` line, saw {restored_lines:?}"
        ));
    };
    expect_flags(
        what,
        restored,
        &[
            ("restored", true),
            ("equal", true),
            ("dma_after_restore_equal", true),
        ],
    )?;
    expect_fields(what, restored, &reference)?;
    expect_fields(what, restored, &[("dma_faults_seen", 0)])?;
    let (done_at, _) = find(what, &lines, "ckpt dma done")?;
    let order = [prepared_at, *taken_at, scribbled_at, *restored_at, done_at];
    if !order.windows(2).all(|pair| pair[0] < pair[1]) {
        return Err(format!(
            "{what}: lines out of order (prepared, taken, scribbled, restored, done at {order:?})"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bulkhead's SMMU line for `assigned` streams.
    fn smmu(assigned: u64) -> String {
        format!("bulkhead: SMMU /smmuv3@9050000: 64 streams, {assigned} assigned, stage 2 only; unassigned streams abort\n")
    }

    fn outcome(uart0: &str) -> Outcome {
        Outcome {
            uart: [uart0.to_string(), String::new()],
            exit_code: Some(0),
            timed_out: false,
            check_errors: Vec::new(),
        }
    }

    fn prefixed(label: &str, text: &str) -> String {
        text.lines()
            .map(|line| format!("[{label}] {line}\n"))
            .collect()
    }

    fn boot(id: u64) -> String {
        format!(
            "boot first_instruction_ticks=1234 cntfrq=62500000\n\
             partition id={id} vcpus=1 memory=16777216\n\
             dt cpus=1 memory=16777216\n"
        )
    }

    fn scan(bdf: &str, bar0: u64, intid: u64) -> String {
        format!(
            "pci function {bdf} id=1234:11e8 class=0x00ff00 bar0={bar0:#x} bar0_size=0x100000\n\
             pci scan functions=1\n\
             pci msi hidden=true\n\
             edu function={bdf} ident=0x10000ed live=true intid={intid} command=0x6\n"
        )
    }

    fn edu(id: u64, bdf: &str, bar0: u64, intid: u64) -> String {
        let first = page_sum(id, 0);
        let last = page_sum(id, EDU_ROUNDS);
        format!(
            "{}{}edu factorial n=10 result=3628800 irqs=1\n\
             edu dma bytes=4096 src_sum={first:#x} dst_sum={first:#x} equal=true\n\
             edu rounds={EDU_ROUNDS} mismatches=0 last_sum={last:#x} dma_irqs={} empty_irqs=0 ms=10200\n\
             edu done\n",
            boot(id),
            scan(bdf, bar0, intid),
            2 * (EDU_ROUNDS + 1)
        )
    }

    #[test]
    fn parses_dma_fault_reports() {
        let text = "bulkhead: warning: dma fault: partition attacker (id 0) device 00:02.0 (stream 0x10) write at IPA 0x70000000: translation fault\r\n\
                    [victim] victim checksum before=0x5\n\
                    bulkhead: dma fault: partition p-1 (id 3) device 00:03.0 (stream 0x18) read at 0x41000000 : permission fault\n\
                    bulkhead: dma fault: partition q (id 1) device 00:04.0 (stream 0x20) write at 0x7000\n\
                    bulkhead: dma fault: garbage\n";
        let faults = dma_faults(text);
        assert_eq!(faults.len(), 3);
        assert_eq!(
            faults[0],
            DmaFault {
                line_index: 0,
                label: "attacker".into(),
                id: 0,
                device: "00:02.0".into(),
                stream: 0x10,
                access: "write".into(),
                address: 0x7000_0000,
                kind: "translation fault".into(),
            }
        );
        assert_eq!(
            (faults[1].line_index, faults[1].id, faults[1].stream),
            (2, 3, 0x18)
        );
        assert_eq!(faults[1].access, "read");
        assert_eq!(faults[1].address, 0x4100_0000);
        assert_eq!(faults[1].kind, "permission fault");
        assert_eq!((faults[2].address, faults[2].kind.as_str()), (0x7000, ""));
        assert_eq!(stream_id("00:02.0"), Some(0x10));
        assert_eq!(stream_id("00:03.0"), Some(0x18));
        assert_eq!(stream_id("01:1f.7"), Some(0x1ff));
    }

    #[test]
    fn host_sums_match_a_bare_qemu_run() {
        // Printed by pci_edu (partition id 0) on bare QEMU 10 and under Bulkhead.
        assert_eq!(page_sum(0, 0), 0xf97f_1384_ca03_42f7);
        assert_eq!(page_sum(0, EDU_ROUNDS), 0xff42_e973_48c9_a198);
    }

    #[test]
    fn pci_edu_values() {
        let good = smmu(1) + &prefixed("edu-a", &edu(0, "00:02.0", 0x1000_0000, 37));
        assert_eq!(check_pci_edu(&outcome(&good)), Ok(()));
        // A stream of a function it does not own translating.
        let two_streams = good.replace(" 1 assigned", " 2 assigned");
        assert!(check_pci_edu(&outcome(&two_streams)).is_err());
        // Another partition's pattern (id 1) is not ours.
        let wrong_id = smmu(1) + &prefixed("edu-a", &edu(1, "00:02.0", 0x1000_0000, 37));
        assert!(check_pci_edu(&outcome(&wrong_id)).is_err());
        let two_functions = good.replace(
            "[edu-a] pci scan",
            "[edu-a] pci function 00:04.0 id=1af4:1042 class=0x010000 bar0=0x10100000 bar0_size=0x1000\n[edu-a] pci scan",
        );
        assert!(check_pci_edu(&outcome(&two_functions)).is_err());
        for (from, to) in [
            ("hidden=true", "hidden=false"),
            ("result=3628800", "result=3628799"),
            ("irqs=1\n", "irqs=2\n"),
            ("mismatches=0", "mismatches=1"),
            ("empty_irqs=0", "empty_irqs=3"),
            ("equal=true", "equal=false"),
            ("class=0x00ff00", "class=0xff0000"),
            ("bar0=0x10000000", "bar0=0x40000000"),
            ("bar0=0x10000000", "bar0=0x10000800"),
            ("intid=37", "intid=38"),
            ("[edu-a] edu done\n", ""),
        ] {
            let bad = good.replace(from, to);
            assert_ne!(bad, good, "{from}");
            assert!(check_pci_edu(&outcome(&bad)).is_err(), "{from} -> {to}");
        }
        let fault = format!(
            "{good}bulkhead: warning: dma fault: partition edu-a (id 0) device 00:02.0 (stream 0x10) write at IPA 0x40001000: translation fault\n"
        );
        assert!(check_pci_edu(&outcome(&fault)).is_err());
        let mut killed = outcome(&good);
        killed.timed_out = true;
        killed.exit_code = None;
        assert!(check_pci_edu(&killed).is_err());
    }

    #[test]
    fn pci_two_edu_values() {
        let a = smmu(2) + &prefixed("edu-a", &edu(0, "00:02.0", 0x1000_0000, 37));
        let b = prefixed("edu-b", &edu(1, "00:03.0", 0x1010_0000, 38));
        let interleaved: String = smmu(2)
            + &a.lines()
                .skip(1)
                .zip(b.lines())
                .flat_map(|(x, y)| [x, "\n", y, "\n"])
                .collect::<String>();
        assert_eq!(check_pci_two_edu(&outcome(&interleaved)), Ok(()));
        // edu-b seeing edu-a's function, or getting edu-a's patterns back.
        let b_sees_a = prefixed("edu-b", &edu(1, "00:02.0", 0x1010_0000, 38));
        assert!(check_pci_two_edu(&outcome(&(a.clone() + &b_sees_a))).is_err());
        let b_gets_a = prefixed("edu-b", &edu(0, "00:03.0", 0x1010_0000, 38));
        assert!(check_pci_two_edu(&outcome(&(a.clone() + &b_gets_a))).is_err());
        let same_bar = prefixed("edu-b", &edu(1, "00:03.0", 0x1000_0000, 38));
        assert!(check_pci_two_edu(&outcome(&(a.clone() + &same_bar))).is_err());
        assert!(check_pci_two_edu(&outcome(&a)).is_err());
    }

    fn fault_line(address: u64) -> String {
        format!(
            "bulkhead: warning: dma fault: partition attacker (id 0) device 00:02.0 (stream 0x10) write at IPA {address:#x}: translation fault\n"
        )
    }

    fn victim_before() -> String {
        let sum = workload::expected_checksum(0..VICTIM_WORDS);
        prefixed(
            "victim",
            &format!(
                "{}victim checksum before={sum:#x}\nvictim checkpoint taken generation=1\n",
                boot(1)
            ),
        )
    }

    fn victim_after(equal: bool) -> String {
        let sum = workload::expected_checksum(0..VICTIM_WORDS);
        let after = if equal { sum } else { sum ^ 1 };
        prefixed(
            "victim",
            &format!(
                "victim checksum after={after:#x} equal={equal}\n\
                 victim restored checksum={sum:#x} equal=true\n"
            ),
        )
    }

    fn attack(targets: usize, faults: bool, finish: bool) -> String {
        let mut text = victim_before();
        text += &prefixed("attacker", &(boot(0) + &scan("00:02.0", 0x1000_0000, 37)));
        for (name, address) in ATTACK_TARGETS.iter().take(targets) {
            text += &format!("[attacker] dma attack target={name} addr={address:#x} start\n");
            if faults {
                text += &fault_line(*address);
            }
            text += &format!(
                "[attacker] dma attack target={name} addr={address:#x} done read_sum=0x1 wrote_back=false leaked=false\n"
            );
        }
        if finish {
            text += "[attacker] dma attack finished\n";
        }
        text
    }

    #[test]
    fn pci_dma_isolation_values() {
        let good = attack(5, true, true) + &victim_after(true);
        assert_eq!(check_pci_dma_isolation(&outcome(&good)), Ok(()));
        assert!(
            check_pci_dma_isolation(&outcome(&(attack(5, true, true) + &victim_after(false))))
                .is_err()
        );
        // A missing, doubled or misplaced report.
        assert!(
            check_pci_dma_isolation(&outcome(&(attack(5, false, true) + &victim_after(true))))
                .is_err()
        );
        let doubled = good.replace(&fault_line(0x4100_0000), &fault_line(0x4100_0000).repeat(2));
        assert!(check_pci_dma_isolation(&outcome(&doubled)).is_err());
        let wrong_page = good.replace(&fault_line(0x4100_0000), &fault_line(0x4100_2000));
        assert!(check_pci_dma_isolation(&outcome(&wrong_page)).is_err());
        let read = good.replace("write at IPA 0x70000000", "read at IPA 0x70000000");
        assert!(check_pci_dma_isolation(&outcome(&read)).is_err());
        let leaked = good.replacen("leaked=false", "leaked=true", 1);
        assert!(check_pci_dma_isolation(&outcome(&leaked)).is_err());
        let wrote = good.replacen("wrote_back=false", "wrote_back=true", 1);
        assert!(check_pci_dma_isolation(&outcome(&wrote)).is_err());
        // The victim must print its after line once the attack is over.
        let early = victim_before()
            + &victim_after(true)
            + &attack(5, true, true).replace(&victim_before(), "");
        assert!(check_pci_dma_isolation(&outcome(&early)).is_err());
        let stopped = format!("{good}bulkhead: partition attacker (id 0) stopped: dma fault\n");
        assert!(check_pci_dma_isolation(&outcome(&stopped)).is_err());
        let unfinished = attack(5, true, false) + &victim_after(true);
        assert!(check_pci_dma_isolation(&outcome(&unfinished)).is_err());
    }

    fn stopped_attack(done_first: bool) -> String {
        let (name, address) = ATTACK_TARGETS[0];
        let mut text = victim_before();
        text += &prefixed("attacker", &(boot(0) + &scan("00:02.0", 0x1000_0000, 37)));
        text += &format!("[attacker] dma attack target={name} addr={address:#x} start\n");
        if done_first {
            text += &format!(
                "[attacker] dma attack target={name} addr={address:#x} done read_sum=0x1 wrote_back=false leaked=false\n"
            );
        }
        text += &fault_line(address);
        text += "bulkhead: partition attacker (id 0) stopped: dma fault\n";
        text
    }

    #[test]
    fn pci_dma_isolation_stop_values() {
        let good = stopped_attack(false) + &victim_after(true);
        assert_eq!(check_pci_dma_isolation_stop(&outcome(&good)), Ok(()));
        let done_then_stopped = stopped_attack(true) + &victim_after(true);
        assert_eq!(
            check_pci_dma_isolation_stop(&outcome(&done_then_stopped)),
            Ok(())
        );
        assert!(check_pci_dma_isolation_stop(&outcome(
            &(stopped_attack(false) + &victim_after(false))
        ))
        .is_err());
        let went_on =
            good.clone() + "[attacker] dma attack target=victim_image addr=0x51001000 start\n";
        assert!(check_pci_dma_isolation_stop(&outcome(&went_on)).is_err());
        let finished = good.clone() + "[attacker] dma attack finished\n";
        assert!(check_pci_dma_isolation_stop(&outcome(&finished)).is_err());
        let no_stop = good.replace(
            "bulkhead: partition attacker (id 0) stopped: dma fault\n",
            "",
        );
        assert!(check_pci_dma_isolation_stop(&outcome(&no_stop)).is_err());
        let other_reason = good.replace("stopped: dma fault", "stopped: stage-2 data abort");
        assert!(check_pci_dma_isolation_stop(&outcome(&other_reason)).is_err());
        // Every target reported although stopped at the first.
        let all = attack(5, true, false)
            + "bulkhead: partition attacker (id 0) stopped: dma fault\n"
            + &victim_after(true);
        assert!(check_pci_dma_isolation_stop(&outcome(&all)).is_err());
        // The victim's after line must follow the stop.
        let early = victim_before()
            + &victim_after(true)
            + &stopped_attack(false).replace(&victim_before(), "");
        assert!(check_pci_dma_isolation_stop(&outcome(&early)).is_err());
    }

    fn checkpoint_run(restored_area: u64, faults: u64) -> String {
        let area = workload::expected_checksum(0..CHECKPOINT_AREA_WORDS);
        let first = page_sum(0, 1);
        let body = format!(
            "{}{}ckpt dma prepared area={area:#x} a={first:#x} c={first:#x} c_equal=true\n\
             ckpt dma taken generation=1 inflight_equal=true unchanged=true\n\
             ckpt dma scribbled dma_write_equal=true area={:#x} a={:#x} c={:#x}\n\
             ckpt dma restored=true equal={} area={restored_area:#x} a={first:#x} c={first:#x} dma_after_restore_equal=true dma_faults_seen={faults}\n\
             ckpt dma done\n",
            boot(0),
            scan("00:02.0", 0x1000_0000, 37),
            area ^ 0xdead,
            dma::constant_sum(CHECKPOINT_SCRIBBLE, dma::DMA_BYTES),
            page_sum(0, 2),
            restored_area == area
        );
        prefixed("ckpt-edu", &body)
    }

    #[test]
    fn pci_checkpoint_dma_values() {
        let area = workload::expected_checksum(0..CHECKPOINT_AREA_WORDS);
        let good = checkpoint_run(area, 0);
        assert_eq!(check_pci_checkpoint_dma(&outcome(&good)), Ok(()));
        assert!(check_pci_checkpoint_dma(&outcome(&checkpoint_run(area ^ 1, 0))).is_err());
        assert!(check_pci_checkpoint_dma(&outcome(&checkpoint_run(area, 1))).is_err());
        // C restored to what the DMA wrote after the checkpoint.
        let first = page_sum(0, 1);
        let stale = good.replacen(
            &format!("a={first:#x} c={first:#x} dma_after"),
            &format!("a={first:#x} c={:#x} dma_after", page_sum(0, 2)),
            1,
        );
        assert_ne!(stale, good);
        assert!(check_pci_checkpoint_dma(&outcome(&stale)).is_err());
        for (from, to) in [
            ("inflight_equal=true", "inflight_equal=false"),
            ("dma_write_equal=true", "dma_write_equal=false"),
            (
                "dma_after_restore_equal=true",
                "dma_after_restore_equal=false",
            ),
            ("generation=1", "generation=0"),
            ("[ckpt-edu] ckpt dma done\n", ""),
        ] {
            let bad = good.replace(from, to);
            assert_ne!(bad, good, "{from}");
            assert!(
                check_pci_checkpoint_dma(&outcome(&bad)).is_err(),
                "{from} -> {to}"
            );
        }
        let fault = format!("{good}bulkhead: dma faults: partition ckpt-edu (id 0): 1\n");
        assert!(check_pci_checkpoint_dma(&outcome(&fault)).is_err());
        // Restored twice: the restore ran again or the take returned twice.
        let twice = good.clone()
            + &good
                .lines()
                .filter(|l| l.contains("restored="))
                .map(|l| format!("{l}\n"))
                .collect::<String>();
        assert!(check_pci_checkpoint_dma(&outcome(&twice)).is_err());
    }
}
