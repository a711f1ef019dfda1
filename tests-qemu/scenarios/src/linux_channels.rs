//! Channels and management from Linux userspace: Debian's kernel, stock `uio_pci_generic`, and the `bulkhead` tool.
//!
//! `/init` runs one of its `bulkhead.script=` scripts (tests-qemu/linux/init)
//! and prints every tool command's output and `linux run <command> exit=<status>`;
//! the bare-metal partners print their side through CONSOLE_WRITE. Linux has
//! UART1 to itself (Bulkhead's own lines go to UART0, whole lines, with the
//! CONSOLE_WRITE ones), so no other writer can split a line it prints.
//! Checks compare both sides' byte counts and checksums.

use crate::linux::LINUX_MODULES;
use crate::scenarios::parse::*;
use crate::{Module, Outcome, Scenario};
use bulkhead_workload::dma;

/// Bytes `chan_partner` sends and pings it answers (mirror `chan_partner.rs`).
pub const PARTNER_BYTES: u64 = 1 << 20;
pub const PARTNER_PONGS: u64 = 1000;
/// Pings of the Linux pair (mirror `init`'s `script_pair_*`).
pub const PAIR_PINGS: u64 = 500;

/// Seed of `chan_partner`'s stream (mirror `chan_partner.rs`).
pub const fn partner_seed() -> u64 {
    dma::seed(0x11a7, 1)
}

/// Debian's kernel and initramfs, and a bare-metal guest at 0x4f00_0000.
const fn linux_and(guest: &'static str) -> [Module; 3] {
    [
        LINUX_MODULES[0],
        LINUX_MODULES[1],
        Module {
            address: 0x4f00_0000,
            guest,
        },
    ]
}

/// `linux_channel`'s boot modules (its benchmark boots the same).
pub const PARTNER_MODULES: &[Module] = &linux_and("chan_partner");
const MANAGE_MODULES: &[Module] = &linux_and("managed_counter");

pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "linux_channel",
            description: "Linux userspace (stock uio_pci_generic, `bulkhead` tool) and a bare-metal partner on one channel: a file out and a 1 MiB stream back with equal checksums on both sides, 1,000 pings answered",
            layout: "tests-qemu/layouts/linux_channel.dtso",
            modules: PARTNER_MODULES,
            timeout_secs: 180,
            icount: false,
            check: check_channel,
        },
        Scenario {
            name: "linux_pair",
            description: "two Linux partitions on one channel: /bin/bulkhead crosses with equal checksum and md5, 500 pings answered",
            layout: "tests-qemu/layouts/linux_pair.dtso",
            modules: LINUX_MODULES,
            timeout_secs: 180,
            icount: false,
            check: check_pair,
        },
        Scenario {
            name: "linux_manage",
            description: "Linux manages a bare-metal worker through its control function: ps, stats, checkpoint then restore rolls the worker's counter back, restart/stop/start act on it only; the unmanaged bystander is DENIED (exit 1)",
            layout: "tests-qemu/layouts/linux_manage.dtso",
            modules: MANAGE_MODULES,
            timeout_secs: 180,
            icount: true,
            check: check_manage,
        },
    ]
}

/// Linux's own lines on UART `uart` (no Bulkhead or CONSOLE_WRITE lines).
fn linux_lines(outcome: &Outcome, uart: usize) -> Vec<(usize, &str)> {
    own_lines(&outcome.uart[uart]).enumerate().collect()
}

/// The `linux run <command> exit=<status>` line of `command` must say `exit`.
fn expect_exit(lines: &[(usize, &str)], command: &str, exit: u64) -> Result<(), String> {
    let prefix = format!("linux run {command} exit=");
    let (_, line) = find("linux", lines, &prefix)?;
    expect_fields("linux", line, &[("exit", exit)])
}

/// Kernel trouble or a missing script end fails any Linux scenario.
fn expect_script_done(lines: &[(usize, &str)], script: &str) -> Result<(), String> {
    for (_, line) in lines {
        if ["Oops", "BUG:", "Kernel panic", "Call trace"]
            .iter()
            .any(|error| line.contains(error))
        {
            return Err(format!("linux: kernel error: `{line}`"));
        }
    }
    find("linux", lines, &format!("linux script_done={script}")).map(|_| ())
}

/// `<word> <n> bytes checksum 0x<fnv>` from the tool: (bytes, checksum).
fn transfer_line(lines: &[(usize, &str)], word: &str) -> Result<(u64, u64), String> {
    let (_, line) = find("linux", lines, &format!("{word} "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [_, bytes, "bytes", "checksum", sum] => {
            let bytes = number(bytes).and_then(|n| u64::try_from(n).ok());
            let sum = number(sum).and_then(|n| u64::try_from(n).ok());
            bytes.zip(sum).ok_or(format!("linux: `{line}`"))
        }
        _ => Err(format!("linux: unexpected `{line}`")),
    }
}

fn check_channel(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let linux = linux_lines(outcome, 1);
    expect_script_done(&linux, "partner")?;
    find("linux", &linux, "linux pci=0x1af4:0x1110")?;
    find("linux", &linux, "0 results 0/2 1048576 rw 0000:00:1e.0")?;
    for command in [
        "channels",
        "send 0 /bin/bulkhead",
        "recv 0 /tmp/received",
        "ping 0 1000",
    ] {
        expect_exit(&linux, command, 0)?;
    }
    let partner = guest_lines(outcome, "partner");
    let (sent, sent_sum) = transfer_line(&linux, "sent")?;
    let (_, line) = find("partner", &partner, "chan partner received ")?;
    expect_fields(
        "partner",
        line,
        &[("bytes", sent), ("checksum", sent_sum), ("bad_chunks", 0)],
    )?;
    if sent == 0 {
        return Err("linux: sent nothing".into());
    }
    let expected = dma::pattern_sum(partner_seed(), PARTNER_BYTES / 8);
    let (_, line) = find("partner", &partner, "chan partner sent ")?;
    expect_fields(
        "partner",
        line,
        &[("bytes", PARTNER_BYTES), ("checksum", expected)],
    )?;
    let (received, received_sum) = transfer_line(&linux, "received")?;
    if (received, received_sum) != (PARTNER_BYTES, expected) {
        return Err(format!(
            "linux: received {received} bytes checksum {received_sum:#x}, expected {PARTNER_BYTES} and {expected:#x}"
        ));
    }
    find(
        "linux",
        &linux,
        &format!("linux received_bytes={PARTNER_BYTES}"),
    )?;
    find(
        "linux",
        &linux,
        &format!("ping {PARTNER_PONGS} round trips ok"),
    )?;
    let (_, line) = find("partner", &partner, "chan partner pongs=")?;
    expect_fields("partner", line, &[("pongs", PARTNER_PONGS)])?;
    Ok(())
}

fn check_pair(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    // linux-a has no UART of its own (UART0 is Bulkhead's): its lines reach
    // UART0 tagged, through its virtual console; linux-b's pings prove the pongs.
    let a: Vec<(usize, &str)> = labelled_lines(&outcome.uart[0], "linux-a").collect();
    let b = linux_lines(outcome, 1);
    expect_script_done(&b, "pair_receive")?;
    expect_exit(&a, "send 0 /bin/bulkhead", 0)?;
    expect_exit(&b, "recv 0 /tmp/received", 0)?;
    expect_exit(&b, &format!("ping 0 {PAIR_PINGS}"), 0)?;
    let sent = transfer_line(&a, "sent")?;
    let received = transfer_line(&b, "received")?;
    if sent != received || sent.0 == 0 {
        return Err(format!(
            "linux-a sent {sent:?}, linux-b received {received:?}"
        ));
    }
    let (_, line) = find("linux-b", &b, "linux received_md5=")?;
    if field(line, "received_md5") != field(line, "sent_md5") {
        return Err(format!("linux-b: `{line}`: the file changed on the way"));
    }
    find("linux-b", &b, &format!("ping {PAIR_PINGS} round trips ok"))?;
    Ok(())
}

/// One `ps` row: (state, boots) of partition `label`, from the `ps` table
/// printed right before the `index`-th `linux run ps` line.
fn ps_row(lines: &[(usize, &str)], index: usize, label: &str) -> Result<(String, u64), String> {
    let runs: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (_, line))| *line == "linux run ps exit=0")
        .map(|(position, _)| position)
        .collect();
    let end = *runs
        .get(index)
        .ok_or(format!("linux: no ps number {index}"))?;
    let start = index.checked_sub(1).map_or(0, |before| runs[before] + 1);
    lines[start..end]
        .iter()
        .find_map(|(_, line)| {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [_, name, state, _, _, boots, _] if *name == label => {
                    Some((state.to_string(), boots.parse().ok()?))
                }
                _ => None,
            }
        })
        .ok_or(format!("linux: ps number {index} has no row for {label}"))
}

fn check_manage(outcome: &Outcome) -> Result<(), String> {
    expect_clean_exit(outcome)?;
    let linux = linux_lines(outcome, 1);
    expect_script_done(&linux, "manage")?;
    find(
        "linux",
        &linux,
        "ID LABEL STATE VCPUS MEMORY BOOTS CHECKPOINT",
    )?;
    let rows = [
        ("linux", "running", 1),
        ("worker", "running", 1),
        ("bystander", "running", 1),
    ];
    for (label, state, boots) in rows {
        let row = ps_row(&linux, 0, label)?;
        if row != (state.to_string(), boots) {
            return Err(format!("linux: first ps shows {label} as {row:?}"));
        }
    }
    find("linux", &linux, "id=1")?;
    find("linux", &linux, "label=worker")?;
    let (_, line) = find("linux", &linux, "checkpoint worker: generation ")?;
    if !line.ends_with(" 1") {
        return Err(format!("linux: `{line}`: expected generation 1"));
    }
    find("linux", &linux, "restore worker: done")?;
    for command in [
        "checkpoint worker",
        "restore worker",
        "restart worker",
        "stop worker",
        "start worker",
    ] {
        expect_exit(&linux, command, 0)?;
    }
    // The tool's errors start `bulkhead: ` like Bulkhead's own log lines,
    // which `own_lines` leaves out: look for them in everything UART1 shows.
    let everything: Vec<(usize, &str)> = lines(&outcome.uart[1]).enumerate().collect();
    for action in ["checkpoint", "restore", "restart"] {
        find(
            "linux",
            &everything,
            &format!("bulkhead: {action} bystander: denied"),
        )?;
        expect_exit(&linux, &format!("{action} bystander"), 1)?;
    }
    find("linux", &everything, "bulkhead: unknown partition nosuch")?;
    expect_exit(&linux, "stop nosuch", 1)?;
    let expected = [
        (1, "worker", "running", 2),
        (2, "worker", "stopped", 2),
        (3, "worker", "running", 3),
        (3, "bystander", "running", 1),
        (3, "linux", "running", 1),
    ];
    for (index, label, state, boots) in expected {
        let row = ps_row(&linux, index, label)?;
        if row != (state.to_string(), boots) {
            return Err(format!(
                "linux: ps number {index} shows {label} as {row:?}, expected {state} boots={boots}"
            ));
        }
    }
    expect_worker_rolled_back(outcome)?;
    let bystander: Vec<&str> = labelled_lines(&outcome.uart[0], "bystander")
        .map(|(_, line)| line)
        .collect();
    let starts = bystander
        .iter()
        .filter(|line| line.starts_with("counter start "))
        .count();
    if starts != 1
        || !bystander
            .iter()
            .any(|line| line.starts_with("counter done "))
    {
        return Err(format!(
            "bystander: {starts} starts, expected one and a `counter done`"
        ));
    }
    Ok(())
}

/// The worker's counter: boot 1 goes back exactly once (the restore), then
/// boots 2 (restart) and 3 (start) each start from zero.
fn expect_worker_rolled_back(outcome: &Outcome) -> Result<(), String> {
    let worker: Vec<&str> = labelled_lines(&outcome.uart[0], "worker")
        .map(|(_, line)| line)
        .collect();
    for boot in 1..=3 {
        find(
            "worker",
            &worker.iter().copied().enumerate().collect::<Vec<_>>(),
            &format!("counter start boot={boot}"),
        )?;
    }
    let values: Vec<u64> = worker
        .iter()
        .filter(|line| line.starts_with("counter value=") && field(line, "boot") == Some("1"))
        .filter_map(|line| field_u64(line, "value"))
        .collect();
    let drops = values.windows(2).filter(|pair| pair[1] < pair[0]).count();
    if drops != 1 {
        return Err(format!("worker: boot 1 counter went back {drops} times, expected once (the restore): {values:?}"));
    }
    Ok(())
}
