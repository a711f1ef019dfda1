//! The checks against hand-written outputs: plausible good ones pass, broken ones fail.

use super::*;
use crate::Outcome;

fn outcome(uart0: String, uart1: String) -> Outcome {
    Outcome {
        uart: [uart0, uart1],
        exit_code: Some(0),
        timed_out: false,
        check_errors: Vec::new(),
    }
}

fn scenario(name: &str) -> Scenario {
    all()
        .into_iter()
        .find(|s| s.name == name)
        .expect("scenario exists")
}

fn boot_lines(id: u64, vcpus: u64, memory: u64) -> String {
    format!(
        "boot first_instruction_ticks=1234 cntfrq=62500000\n\
         partition id={id} vcpus={vcpus} memory={memory}\n\
         dt cpus={vcpus} memory={memory}\n"
    )
}

fn prefixed(label: &str, text: &str) -> String {
    text.lines()
        .map(|line| format!("[{label}] {line}\n"))
        .collect()
}

#[test]
fn table_is_consistent() {
    let scenarios = all();
    let mut names: Vec<_> = scenarios.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), scenarios.len(), "duplicate scenario names");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../");
    for s in &scenarios {
        assert!(
            std::path::Path::new(root).join(s.layout).exists(),
            "{}: missing {}",
            s.name,
            s.layout
        );
        // Linux under TCG and Bulkhead gets up to 180 s; bare-metal guests 60.
        let runs_linux = s.modules.iter().any(|m| m.guest.starts_with("linux:"));
        let limit = if runs_linux { 180 } else { 60 };
        assert!(s.timeout_secs > 0 && s.timeout_secs <= limit, "{}", s.name);
        assert!(!s.modules.is_empty(), "{}", s.name);
        for module in s.modules {
            assert!(
                // Boot modules live in Bulkhead's area above its own 64 MiB.
                (0x4400_0000..0x5000_0000).contains(&module.address),
                "{}",
                s.name
            );
        }
    }
    assert!(
        scenarios.iter().any(|s| s.name == "default"),
        "cargo xtask run takes its modules from `default`"
    );
}

// ---- default ----

fn compute_uart(id: u64, checksum: u64, parts: (u64, u64), starts: (u64, u64)) -> String {
    let memory = DEFAULT_PARTITION_BYTES;
    format!(
        "{}compute cpu_on target=1 result=0\n\
         compute vcpu=1 part=1 words=15597568 checksum={:#x} start={} end={}\n\
         compute vcpu=0 part=0 words=15597568 checksum={:#x} start={} end={}\n\
         compute checksum={checksum:#x} cores=2 memory={memory} region={memory} ticks=99 cntfrq=62500000\n",
        boot_lines(id, 2, memory),
        parts.1,
        starts.1,
        starts.1 + 1000,
        parts.0,
        starts.0,
        starts.0 + 1000,
    )
}

fn default_good() -> Outcome {
    let words = (DEFAULT_PARTITION_BYTES - (18 << 20)) / 8;
    let first = bulkhead_workload::expected_checksum(0..words / 2);
    let second = bulkhead_workload::expected_checksum(words / 2..words);
    let total = bulkhead_workload::combine(first, second);
    let alpha: String = compute_uart(0, total, (first, second), (100, 110))
        .lines()
        .map(|line| format!("[alpha] {line}\n"))
        .collect();
    let uart0 = format!("bulkhead: booting\n{alpha}bulkhead: partition alpha off\n");
    outcome(uart0, compute_uart(1, total, (first, second), (105, 120)))
}

#[test]
fn default_accepts_good_output() {
    (scenario("default").check)(&default_good()).unwrap();
}

#[test]
fn default_rejects_wrong_checksum_sequential_runs_and_bad_exit() {
    let check = scenario("default").check;
    let good = default_good();

    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replacen("compute checksum=0x", "compute checksum=0x1", 1);
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1]
        .replace("start=110 end=1110", "start=5000 end=6000")
        .replace("start=120 end=1120", "start=5000 end=6000");
    bad.uart[1] = bad.uart[1].replace("start=105 end=1105", "start=5000 end=6000");
    let err = check(&bad).unwrap_err();
    assert!(err.contains("concurrently"), "{err}");

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace("dt cpus=2", "dt cpus=4");
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.exit_code = Some(1);
    assert!(check(&bad).is_err());

    let mut bad = good;
    bad.timed_out = true;
    bad.exit_code = None;
    assert!(check(&bad).is_err());
}

// ---- isolation ----

/// The stop variant (isolation_stop); [`isolation_delivered_good`] is the default's.
fn isolation_good() -> Outcome {
    let checksum = bulkhead_workload::expected_checksum(0..bulkhead_workload::VICTIM_WORDS);
    let progress = |n: u64| format!("victim progress={n} checksum={checksum:#x}\n");
    let mut uart0 = String::from("bulkhead: booting 4 partitions\n");
    uart0 += &progress_mirror(&progress(1));
    for (id, (label, ipa)) in ATTACK_TARGETS.iter().enumerate() {
        uart0 += &prefixed(label, &boot_lines(id as u64, 1, 16 << 20));
        uart0 += &format!("[{label}] attacker id={id} about to read something at {ipa:#x}\n");
        uart0 += &format!(
            "bulkhead: partition {label} (id {id}) stopped: stage-2 data abort (read) at IPA {ipa:#x}\n\
             bulkhead:   vcpu 0: esr=0x92000007 far={ipa:#x} ipa={ipa:#x} elr=0x40001234\n"
        );
        uart0 += &progress_mirror(&progress(id as u64 + 2));
    }
    let mut uart1 = boot_lines(3, 1, 32 << 20);
    for n in 1..=5 {
        uart1 += &progress(n);
    }
    uart1 += "victim done progress=5\n";
    outcome(uart0, uart1)
}

/// isolation's output: each attacker takes the abort in its own vectors.
fn isolation_delivered_good() -> Outcome {
    let mut good = isolation_good();
    for (id, (label, ipa)) in ATTACK_TARGETS.iter().enumerate() {
        good.uart[0] = good.uart[0].replace(
            &format!(
                "bulkhead: partition {label} (id {id}) stopped: stage-2 data abort (read) at IPA {ipa:#x}\n\
                 bulkhead:   vcpu 0: esr=0x92000007 far={ipa:#x} ipa={ipa:#x} elr=0x40001234\n"
            ),
            &format!(
                "bulkhead: partition {label} (id {id}): stage-2 data abort (read) at IPA {ipa:#x}, delivered to the guest \
                 as a synchronous external abort (vcpu 0 esr=0x92000007 far={ipa:#x} elr=0x40001234 esr_el1=0x96000010 vector=0x40000a00)\n\
                 [{label}] guest exception: sync current-el spx esr=0x96000010 far={ipa:#x} elr=0x40001234\n"
            ),
        );
    }
    good
}

#[test]
fn isolation_accepts_delivered_aborts() {
    let check = scenario("isolation").check;
    let good = isolation_delivered_good();
    check(&good).unwrap();
    // The stop variant's output is not the default's, nor the other way round.
    assert!(check(&isolation_good()).is_err());
    assert!((scenario("isolation_stop").check)(&good).is_err());
    // The attacker's vectors must have seen the abort, at its address.
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace(
        "[attacker-1] guest exception",
        "[attacker-1] guest exceptional",
    );
    assert!(check(&bad).is_err());
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace(
        "esr=0x96000010 far=0x71000000",
        "esr=0x96000011 far=0x71000000",
    );
    assert!(check(&bad).is_err());
    let mut bad = good;
    bad.uart[1] = bad.uart[1].replacen(
        "victim progress=4 checksum=0x",
        "victim progress=4 checksum=0x1",
        1,
    );
    assert!(check(&bad).is_err());
}

fn progress_mirror(line: &str) -> String {
    prefixed("victim", line)
}

#[test]
fn isolation_accepts_good_output() {
    (scenario("isolation_stop").check)(&isolation_good()).unwrap();
}

#[test]
fn isolation_rejects_breaches_wrong_ipas_and_stalls() {
    let check = scenario("isolation_stop").check;
    let good = isolation_good();

    let mut bad = good.clone();
    bad.uart[0] +=
        "[attacker-1] attacker id=1 BREACH read bulkhead memory at 0x42000000 value=0x0\n";
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace("(read) at IPA 0x42000000", "(read) at IPA 0x43000000");
    assert!(check(&bad).is_err());

    // No victim progress after the last report.
    let mut bad = good.clone();
    let last = bad.uart[0].rfind("[victim]").unwrap();
    bad.uart[0].truncate(last);
    assert!(check(&bad).is_err());

    // A missing report.
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace(
        "bulkhead: partition attacker-2",
        "bulkhead: partition-x attacker-2",
    );
    assert!(check(&bad).is_err());

    // The checksum changed.
    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replacen(
        "victim progress=4 checksum=0x",
        "victim progress=4 checksum=0x1",
        1,
    );
    assert!(check(&bad).is_err());

    // Progress went backwards.
    let mut bad = good;
    bad.uart[1] = bad.uart[1].replace("victim progress=4", "victim progress=2");
    assert!(check(&bad).is_err());
}

// ---- psci ----

fn pilot_boot(count: u64) -> String {
    let mut text = boot_lines(0, 2, DEFAULT_PARTITION_BYTES);
    text += &format!("boot count={count}\nresult cpu_on_1=0\n");
    text += &format!("secondary vcpu=1 context={PSCI_CONTEXT:#x}\n");
    text += "result affinity_info_1_on=0\nresult cpu_on_1_again=-4\nresult cpu_on_2=-2\n\
             result cpu_on_0x100=-2\nresult affinity_info_1_off=1\n";
    text += if count == 1 {
        "psci system_reset\n"
    } else {
        "psci system_off\n"
    };
    text
}

fn psci_good() -> Outcome {
    let mut uart0 = String::from("bulkhead: booting\n");
    uart0 += &prefixed("bystander", "progress=1\nprogress=2\n");
    uart0 += &prefixed("pilot", &pilot_boot(1));
    uart0 += "bulkhead: partition pilot reset\n";
    uart0 += &prefixed("bystander", "progress=3\n");
    uart0 += &prefixed("pilot", &pilot_boot(2));
    uart0 += &prefixed("bystander", "progress=4\n");
    let mut uart1 = boot_lines(1, 2, DEFAULT_PARTITION_BYTES);
    for n in 1..=4 {
        uart1 += &format!("progress={n} ticks={}\n", n * 1000);
    }
    uart1 += "bystander done progress=4\n";
    outcome(uart0, uart1)
}

#[test]
fn psci_accepts_good_output() {
    (scenario("psci").check)(&psci_good()).unwrap();
}

#[test]
fn psci_rejects_wrong_codes_boot_counts_and_stalled_bystander() {
    let check = scenario("psci").check;
    let good = psci_good();

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replacen("result cpu_on_1_again=-4", "result cpu_on_1_again=0", 1);
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace("result cpu_on_0x100=-2", "result cpu_on_0x100=0");
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace(&format!("context={PSCI_CONTEXT:#x}"), "context=0x0");
    assert!(check(&bad).is_err());

    // Booted three times.
    let mut bad = good.clone();
    bad.uart[0] += &prefixed("pilot", &pilot_boot(3));
    assert!(check(&bad).is_err());

    // Booted once.
    let mut bad = good.clone();
    let second = bad.uart[0]
        .rfind("[pilot] boot first_instruction_ticks")
        .unwrap();
    bad.uart[0].truncate(second);
    assert!(check(&bad).is_err());

    // The bystander printed nothing after the pilot's reset.
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0]
        .replace("[bystander] progress=3\n", "")
        .replace("[bystander] progress=4\n", "");
    assert!(check(&bad).is_err());

    // The bystander's progress fell back (it was reset too).
    let mut bad = good;
    bad.uart[1] = bad.uart[1].replace("progress=3 ", "progress=1 ");
    assert!(check(&bad).is_err());
}

// ---- hypercall_args ----

fn hvc_args_good() -> Outcome {
    let mut uart1 = boot_lines(0, 1, 16 << 20);
    for (name, value) in HVC_ARGS_RESULTS {
        uart1 += &format!("result {name}={value}\n");
    }
    uart1 += "still running after bad calls\n";
    let uart0 = format!("bulkhead: booting\n[caller] {}", HVC_ARGS_VALID_TEXT);
    outcome(uart0, uart1)
}

#[test]
fn hypercall_args_accepts_good_output() {
    (scenario("hypercall_args").check)(&hvc_args_good()).unwrap();
}

#[test]
fn hypercall_args_rejects_wrong_values_and_missing_lines() {
    let check = scenario("hypercall_args").check;
    let good = hvc_args_good();

    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replace(
        "result console_write_overflow=-2",
        "result console_write_overflow=4096",
    );
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replace(
        "result smccc_version_smc=65537",
        "result smccc_version_smc=-1",
    );
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replace("still running after bad calls\n", "");
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[0] = "bulkhead: booting\n".into();
    assert!(check(&bad).is_err());

    let mut bad = good;
    bad.uart[1] += "guest exception: sync current-el spx esr=0x0 far=0x0 elr=0x40001000\n";
    assert!(check(&bad).is_err());
}

// ---- bad_layout_at_boot ----

fn bad_layout_good() -> Outcome {
    let errors = vec![
        "layout error: /chosen/bulkhead/partition@0: memory: region 0x4f000000+0x2000000 overlaps bulkhead's reserved area".to_string(),
        "layout error: /chosen/bulkhead/partition@1: cpus: cpu 0x1 is also in partition@0 (alpha)".to_string(),
        "layout error: /chosen/bulkhead/partition@1: devices: /no-such-uart@9080000 does not exist".to_string(),
    ];
    let mut uart0 = String::from("bulkhead: booting\n");
    for error in &errors {
        uart0 += &format!("{error}\n");
    }
    uart0 += "bulkhead: refusing to boot, powering off\n";
    Outcome {
        uart: [uart0, String::new()],
        exit_code: Some(0),
        timed_out: false,
        check_errors: errors,
    }
}

#[test]
fn bad_layout_accepts_good_output() {
    (scenario("bad_layout_at_boot").check)(&bad_layout_good()).unwrap();
}

#[test]
fn bad_layout_rejects_running_guests_missing_lines_and_hangs() {
    let check = scenario("bad_layout_at_boot").check;
    let good = bad_layout_good();

    let mut bad = good.clone();
    bad.uart[1] = "boot first_instruction_ticks=5 cntfrq=62500000\n".into();
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace("does not exist", "is missing");
    assert!(check(&bad).is_err());

    let mut bad = good.clone();
    bad.check_errors.clear();
    assert!(check(&bad).is_err());

    let mut bad = good;
    bad.timed_out = true;
    bad.exit_code = None;
    assert!(check(&bad).is_err());
}

// ---- channels ----

fn pingpong_good() -> Outcome {
    let line = |role: &str| {
        format!("chan pingpong role={role} rounds=10000 doorbells=10000 mismatches=0 notify_errors=0 ticks=99 cntfrq=62500000")
    };
    let uart0 = format!(
        "{}{}bulkhead: all partitions are off; powering off\n",
        prefixed("ping", &line("ping")),
        prefixed("pong", &line("pong"))
    );
    outcome(uart0, String::new())
}

#[test]
fn chan_pingpong_counts_every_doorbell() {
    let check = scenario("chan_pingpong").check;
    check(&pingpong_good()).unwrap();
    let mut lost = pingpong_good();
    lost.uart[0] = lost.uart[0].replacen("doorbells=10000", "doorbells=9999", 1);
    assert!(check(&lost).is_err());
    let mut doubled = pingpong_good();
    doubled.uart[0] = doubled.uart[0].replacen("doorbells=10000", "doorbells=10001", 1);
    assert!(check(&doubled).is_err());
    let mut mismatched = pingpong_good();
    mismatched.uart[0] = mismatched.uart[0].replacen("mismatches=0", "mismatches=1", 1);
    assert!(check(&mismatched).is_err());
}

fn guard_good() -> Outcome {
    let fill = bulkhead_workload::dma::pattern_sum(
        bulkhead_workload::dma::seed(0x9a7d, 0),
        (64 << 10) / 8,
    );
    let uart0 = format!(
        "{}{}bulkhead: partition reader (id 1) stopped: stage-2 data abort (write) at IPA 0x80000040\n\
         {}bulkhead: partition outsider (id 2) stopped: stage-2 data abort (read) at IPA 0x80000000\n{}",
        prefixed("reader", &format!("chan guard reader read_only=1 checksum={fill:#018x}")),
        prefixed("reader", "chan guard reader notify=0"),
        prefixed("outsider", "chan guard outsider info=-3 notify=-3 notify_all=-3 info_missing=-2"),
        prefixed(
            "owner",
            &format!("chan guard owner before={fill:#018x} after={fill:#018x} ring_self=-2 ring_missing=-2")
        ),
    );
    outcome(uart0, String::new())
}

#[test]
fn chan_guard_needs_the_reports_and_intact_data() {
    let check = scenario("chan_guard").check;
    check(&guard_good()).unwrap();
    let mut wrote = guard_good();
    wrote.uart[0].push_str("[reader] chan guard reader wrote\n");
    assert!(check(&wrote).is_err());
    let mut changed = guard_good();
    changed.uart[0] = changed.uart[0].replacen("after=0x", "after=0x1", 1);
    assert!(check(&changed).is_err());
    let mut allowed = guard_good();
    allowed.uart[0] = allowed.uart[0].replace("info=-3", "info=0");
    assert!(check(&allowed).is_err());
    let mut unstopped = guard_good();
    unstopped.uart[0] = unstopped.uart[0].replace(
        "bulkhead: partition reader (id 1) stopped: stage-2 data abort (write) at IPA 0x80000040\n",
        "",
    );
    assert!(check(&unstopped).is_err());
}

// ---- abort_delivery and linux_sigbus ----

fn abort_delivery_good() -> Outcome {
    let mut uart1 = boot_lines(0, 1, 16 << 20);
    uart1 += "abort_probe read esr=0x96000010 far=0x70000000 elr=0x400000c0 expected_elr=0x400000c0 vector=4 aborts=1\n\
              abort_probe write esr=0x96000050 far=0x70000008 elr=0x40000178 expected_elr=0x40000178 vector=4 aborts=2\n\
              abort_probe fetch esr=0x86000010 far=0x80000000 elr=0x80000000 expected_elr=0x80000000 vector=4 aborts=3\n\
              abort_probe loop aborts=1000 far_sum=0x1b58792fe80\n\
              abort_probe done aborts=1003\n";
    let head = "bulkhead: partition prober (id 0): ";
    let tail = ", delivered to the guest as a synchronous external abort (vcpu 0 esr=0x93cb8006)\n";
    let mut uart0 = format!("{head}1 vCPU(s), 16 MiB, entry 0x40000000, DT at 0x40e00000\n");
    uart0 += &format!("{head}stage-2 data abort (read) at IPA 0x70000000{tail}");
    uart0 += &format!("{head}stage-2 data abort (write) at IPA 0x70000008{tail}");
    uart0 += &format!(
        "{head}stage-2 instruction abort at IPA 0x80000000 (translation fault, level 1){tail}"
    );
    for page in 0..5 {
        uart0 += &format!(
            "{head}stage-2 data abort (read) at IPA {:#x}{tail}",
            0x7000_0010 + page * 0x1000
        );
    }
    for count in [16, 32, 64, 128, 256, 512] {
        uart0 += &format!("{head}{count} stage-2 aborts delivered to the guest so far (after the first 8 only every power of two is reported)\n");
    }
    uart0 += "bulkhead: partition prober (id 0) is off; 0 partition(s) still running\n";
    outcome(uart0, uart1)
}

#[test]
fn abort_delivery_values() {
    let check = scenario("abort_delivery").check;
    let good = abort_delivery_good();
    check(&good).unwrap();
    for (uart, from, to) in [
        (
            1,
            "esr=0x96000010 far=0x70000000",
            "esr=0x96000011 far=0x70000000",
        ),
        (1, "esr=0x96000050", "esr=0x96000010"),
        (1, "elr=0x40000178 expected", "elr=0x4000017c expected"),
        (
            1,
            "far=0x80000000 elr=0x80000000",
            "far=0x80000000 elr=0x80000004",
        ),
        (1, "loop aborts=1000", "loop aborts=999"),
        (1, "done aborts=1003", "done aborts=1002"),
        (0, "512 stage-2", "513 stage-2"),
        (0, "(write) at IPA 0x70000008", "(read) at IPA 0x70000008"),
    ] {
        let mut bad = good.clone();
        bad.uart[uart] = bad.uart[uart].replace(from, to);
        assert!(check(&bad).is_err(), "{from} -> {to}");
    }
    // A ninth full report breaks the rate limit.
    let mut bad = good.clone();
    bad.uart[0] += "bulkhead: partition prober (id 0): stage-2 data abort (read) at IPA 0x70005010, delivered to the guest as a synchronous external abort (x)\n";
    assert!(check(&bad).is_err());
    let mut bad = good;
    bad.uart[0] +=
        "bulkhead: partition prober (id 0) stopped: stage-2 data abort (read) at IPA 0x70000000\n";
    assert!(check(&bad).is_err());
}

#[test]
fn linux_sigbus_values() {
    let check = scenario("linux_sigbus").check;
    let uart0 = "bulkhead: partition linux (id 0): stage-2 data abort (read) at IPA 0xa000000, delivered to the guest as a synchronous external abort (vcpu 0)\n\
                 bulkhead: partition linux (id 0): stage-2 data abort (write) at IPA 0xa000010, delivered to the guest as a synchronous external abort (vcpu 0)\n";
    let uart1 = "linux script=sigbus\nBus error\nlinux sigbus read exit=135\nBus error\nlinux sigbus write exit=135\n\
                 linux after_sigbus md5=e071f707df7bbeee2a6a1eb48011ddd0 nproc=1\nlinux script_done=sigbus\nlinux poweroff\n";
    let good = outcome(uart0.into(), uart1.into());
    check(&good).unwrap();
    for (uart, from, to) in [
        (1, "read exit=135", "read exit=0"),
        (1, "md5=e0", "md5=f0"),
        (1, "linux script_done=sigbus\n", ""),
        (0, "(write) at IPA 0xa000010", "(write) at IPA 0xa000014"),
    ] {
        let mut bad = good.clone();
        bad.uart[uart] = bad.uart[uart].replace(from, to);
        assert!(check(&bad).is_err(), "{from} -> {to}");
    }
}

#[test]
fn rpi4_isolation_wants_the_rpi4_targets() {
    let rpi4 = crate::boards::scenarios("rpi4");
    let check = rpi4
        .iter()
        .find(|s| s.name == "rpi4_isolation")
        .expect("rpi4_isolation is declared")
        .check;
    let virt = isolation_delivered_good();
    assert!(
        check(&virt).is_err(),
        "QEMU virt's targets are not the rpi4's"
    );
    let mut good = virt.clone();
    for ((_, virt_ipa), (_, rpi4_ipa)) in ATTACK_TARGETS
        .iter()
        .zip(crate::boards::RPI4_ATTACK_TARGETS.iter())
    {
        good.uart[0] = good.uart[0].replace(&format!("{virt_ipa:#x}"), &format!("{rpi4_ipa:#x}"));
    }
    check(&good).unwrap();
}
