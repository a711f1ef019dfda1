//! The hostile checks against hand-written outputs: plausible good ones pass, each kind of disturbance fails.

use super::benchmarks::benchmarks;
use super::*;

const CHECKSUM_LINE_KEY: &str = "checksum=";

fn expected_checksum() -> u64 {
    bulkhead_workload::expected_checksum(0..bulkhead_workload::VICTIM_WORDS)
}

fn outcome(uart0: String, uart1: String) -> Outcome {
    Outcome {
        uart: [uart0, uart1],
        exit_code: Some(0),
        timed_out: false,
        check_errors: Vec::new(),
    }
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

/// UART1 of an undisturbed victim reporting at ticks 1000, 5000 and 9000.
fn victim(windows: bool) -> String {
    let sum = expected_checksum();
    let mut text = boot_lines(0, 2, VICTIM_BYTES);
    text += "victim ready uart=0x9040000 intid=40 until_ms=250\n";
    for (progress, timer, ticks) in [(1, 5, 1000), (20, 100, 5000), (40, 200, 9000)] {
        text += &format!(
            "victim progress={progress} checksum={sum:#x} sgis=0 timer={timer} uart_rx=0 other=0 ticks={ticks}\n"
        );
    }
    text += &format!(
        "victim done progress=45 vcpu1_progress=44 checksum={sum:#x} bad=0 ticks=9900\n\
         victim irqs sgis=0 timer=230 armed=230 uart_rx=0 other=0 own_sgis=3 own_received=3\n\
         victim spi intid=40 enabled=1 priority=160 route=0x0\n\
         rx-probe\n\
         victim loopback rx=9 bytes=9 expected=9\n"
    );
    if windows {
        text += "victim windows baseline=19001 storm=18996 cntfrq=62500000\n";
    }
    text
}

/// UART0 with the attacker's boot lines, then `body` (attacker lines), then Bulkhead's `tail`.
fn uart0(body: &str, tail: &str) -> String {
    format!(
        "bulkhead: starting\n{}{}{tail}",
        prefixed(ATTACKER, &boot_lines(ATTACKER_ID, 2, 16 << 20)),
        prefixed(ATTACKER, body)
    )
}

/// An attack that survives: start at ticks 2000, its lines, done at 6000.
fn survived(lines: &str) -> Outcome {
    let body =
        format!("attacker start attack=x ticks=2000\n{lines}attacker done ticks=6000 calls=1\n");
    outcome(
        uart0(&body, "bulkhead: all partitions are off; powering off\n"),
        victim(true),
    )
}

fn scenario(name: &str) -> Scenario {
    scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .expect("scenario exists")
}

#[test]
fn victim_disturbances_fail() {
    let good = survived("attack sgi result=done writes=15456 own_received=48 control=1\n");
    let check = scenario("hostile_sgi").check;
    assert_eq!(check(&good), Ok(()));
    let sum = format!("{:#x}", expected_checksum());
    let disturbed = [
        ("sgis=0 timer=100", "sgis=1 timer=100"),
        (
            "uart_rx=0 other=0 ticks=5000",
            "uart_rx=1 other=0 ticks=5000",
        ),
        ("other=0 ticks=9000", "other=2 ticks=9000"),
        ("timer=230 armed=230", "timer=229 armed=230"),
        ("own_received=3", "own_received=4"),
        ("enabled=1", "enabled=0"),
        ("priority=160", "priority=0"),
        ("route=0x0", "route=0x1"),
        ("rx=9", "rx=8"),
        ("bad=0", "bad=1"),
        ("progress=20 ", "progress=1 "),
        ("ticks=1000", "ticks=3000"),
        ("ticks=9000", "ticks=5500"),
    ];
    for (from, to) in disturbed {
        let mut bad = good.clone();
        bad.uart[1] = bad.uart[1].replacen(from, to, 1);
        assert_ne!(bad.uart[1], good.uart[1], "{from}");
        assert!(check(&bad).is_err(), "accepted with {to}");
    }
    let mut bad = good.clone();
    bad.uart[1] = bad.uart[1].replacen(&format!("{CHECKSUM_LINE_KEY}{sum}"), "checksum=0x1", 1);
    assert!(check(&bad).is_err());
    // A stopped victim, a breach, a timeout.
    let mut bad = good.clone();
    bad.uart[0] +=
        "bulkhead: partition victim (id 0) stopped: stage-2 data abort (read) at IPA 0x0\n";
    assert!(check(&bad).is_err());
    let mut bad = good.clone();
    bad.uart[0] += "[attacker] attack memory result=BREACH target=x\n";
    assert!(check(&bad).is_err());
    let mut bad = good;
    bad.timed_out = true;
    bad.exit_code = None;
    assert!(check(&bad).is_err());
}

#[test]
fn sgi_needs_every_write_and_the_control() {
    let check = scenario("hostile_sgi").check;
    assert!(check(&survived(
        "attack sgi result=done writes=15455 own_received=48 control=1\n"
    ))
    .is_err());
    assert!(check(&survived(
        "attack sgi result=done writes=15456 own_received=48 control=0\n"
    ))
    .is_err());
    assert!(check(&survived("")).is_err());
}

#[test]
fn gic_needs_zero_readbacks() {
    let good = format!(
        "attack gicd_spi result=done accesses={GICD_SPI_ACCESSES} nonzero=0 first_nonzero=0\n\
         attack gicd_sweep result=done words=16384 nonzero=0 first_nonzero=0x0\n\
         attack gicd_ctlr result=0x50\n\
         attack gicr_lpi result=done nonzero=0 ctlr=0x0 propbaser=0x0 pendbaser=0x0 typer=0x0\n"
    );
    let check = scenario("hostile_gic").check;
    assert_eq!(check(&survived(&good)), Ok(()));
    for (from, to) in [
        (
            "nonzero=0 first_nonzero=0\n",
            "nonzero=1 first_nonzero=40\n",
        ),
        ("words=16384 nonzero=0", "words=16384 nonzero=3"),
        ("propbaser=0x0", "propbaser=0x61000000"),
    ] {
        assert!(
            check(&survived(&good.replacen(from, to, 1))).is_err(),
            "{to}"
        );
    }
}

fn psci_lines(wrong: Option<(&str, i64)>) -> String {
    let mut text = String::new();
    for conduit in ["hvc", "smc"] {
        for (name, code) in PSCI_RESULTS {
            let code = match wrong {
                Some((bad, value)) if bad == *name => value,
                _ => *code,
            };
            text += &format!("attack psci_{name}_{conduit} result={code}\n");
        }
        text += &format!("attacker secondary vcpu=1 context=0x1033\nattack psci_control_{conduit} result=0 ran=1 off=1\n");
    }
    text
}

#[test]
fn psci_codes_are_exact() {
    let check = scenario("hostile_psci").check;
    assert_eq!(check(&survived(&psci_lines(None))), Ok(()));
    assert!(check(&survived(&psci_lines(Some(("cpu_on_core2", 0))))).is_err());
    assert!(check(&survived(&psci_lines(Some(("system_reset2_64", 0))))).is_err());
    let no_control = psci_lines(None).replace("ran=1 off=1", "ran=0 off=1");
    assert!(check(&survived(&no_control)).is_err());
    // CPU_OFF of the last vCPU must end the partition: if it returned,
    // the guest says so, and if the machine never powers off, QEMU is killed.
    let returned = psci_lines(None) + "attack psci_cpu_off_last result=BREACH returned -1\n";
    assert!(check(&survived(&returned)).is_err());
    let mut hung = survived(&psci_lines(None));
    hung.timed_out = true;
    hung.exit_code = None;
    assert!(check(&hung).is_err());
}

fn smccc_lines(extra: &str) -> String {
    let mut text = String::new();
    for conduit in ["hvc", "smc"] {
        for (id, x0) in SMCCC_ANSWERS {
            text += &format!("attack smccc_answer id={id:#x} conduit={conduit} x0={x0}\n");
        }
    }
    text += extra;
    let answered = SMCCC_ANSWERS.len() * 2 + usize::from(!extra.is_empty());
    text + &format!(
        "attack smccc result=done calls={} answered={answered}\n",
        smccc_ids().len() * 2
    )
}

#[test]
fn smccc_only_documented_ids_answer() {
    let check = scenario("hostile_smccc").check;
    assert_eq!(smccc_ids().len(), 64 * 4 * 23 - 1);
    assert_eq!(check(&survived(&smccc_lines(""))), Ok(()));
    let extra = "attack smccc_answer id=0xc5000000 conduit=hvc x0=0\n";
    assert!(check(&survived(&smccc_lines(extra))).is_err());
    let wrong = smccc_lines("").replacen("x0=65537", "x0=65536", 1);
    assert!(check(&survived(&wrong)).is_err());
    let missing = smccc_lines("").replacen(
        "attack smccc_answer id=0x8600ff00 conduit=smc x0=11\n",
        "",
        1,
    );
    assert!(check(&survived(&missing)).is_err());
}

fn fuzz_lines(ok: u64, other: u64) -> String {
    format!(
        "attack fuzz histogram 0={ok} pos=53529 -1=904804 -2=24090 -3=2046 -4=422 -5=0 -6=0 -7=0 -8=0 -9=1771 -10=0 other={other}\n\
         attack fuzz result=done calls=1000000 skipped=9559 hvc=500363 smc=499637\n"
    )
}

#[test]
fn fuzz_histogram_adds_up_to_a_million_smccc_codes() {
    let check = scenario("hostile_hypercall_fuzz").check;
    let mut good = survived(&fuzz_lines(13338, 0));
    good.uart[0] = good.uart[0].replace("ticks=6000 calls=1\n", "ticks=6000 calls=1000000\n");
    assert_eq!(check(&good), Ok(()));
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0].replace("0=13338", "0=13337");
    assert!(check(&bad).is_err());
    let mut bad = good.clone();
    bad.uart[0] = bad.uart[0]
        .replace("0=13338", "0=13337")
        .replace("other=0", "other=1");
    assert!(check(&bad).is_err());
    let mut bad = good;
    bad.uart[0] = bad.uart[0].replace("calls=1000000 skipped", "calls=999999 skipped");
    assert!(check(&bad).is_err());
}

/// An attacker stopped at its access to `ipa` (announced at ticks 3000) on a GICv3 board.
fn memory_outcome(target: &str, access: &str, ipa: u64, reason: &str) -> Outcome {
    memory_outcome_on(target, access, ipa, reason, "v3")
}

/// The same on a board with GIC `gic` (`v2` or `v3`, as the attacker announces it).
fn memory_outcome_on(target: &str, access: &str, ipa: u64, reason: &str, gic: &str) -> Outcome {
    let body = format!(
        "attacker start attack=memory ticks=2990\n\
         attack memory target={target} access={access} ipa={ipa:#x} ticks=3000 gic={gic}\n"
    );
    let tail = format!(
        "bulkhead: partition attacker (id 1) stopped: {reason} at IPA {ipa:#x}\n\
         bulkhead:   vcpu 0: esr=0x93800006 far={ipa:#x} ipa={ipa:#x} elr=0x40003384\n\
         bulkhead: all partitions are off; powering off\n"
    );
    outcome(uart0(&body, &tail), victim(false))
}

#[test]
fn memory_target_moves_with_the_gic_the_attacker_saw() {
    let check = scenario("hostile_memory_gicd_beyond_frame").check;
    let read = "stage-2 data abort (read)";
    let on = |ipa, gic| {
        check(&memory_outcome_on(
            "gicd_beyond_frame",
            "read",
            ipa,
            read,
            gic,
        ))
    };
    assert_eq!(on(0x0801_0000, "v3"), Ok(()));
    // GICv2: 0x0801_0000 is the guest's own GICC window; the target is past it.
    assert_eq!(on(0x0801_2000, "v2"), Ok(()));
    assert!(on(0x0801_0000, "v2").is_err());
    assert!(on(0x0801_2000, "v3").is_err());
    assert!(on(0x0801_0000, "v4").is_err());
}

#[test]
fn memory_needs_one_report_at_the_right_ipa() {
    let check = scenario("hostile_memory_victim_ram").check;
    let read = "stage-2 data abort (read)";
    assert_eq!(
        check(&memory_outcome("victim_ram", "read", 0x6100_0000, read)),
        Ok(())
    );
    assert!(check(&memory_outcome("victim_ram", "read", 0x6100_1000, read)).is_err());
    assert!(check(&memory_outcome("victim_ram", "write", 0x6100_0000, read)).is_err());
    assert!(check(&memory_outcome("bulkhead_heap", "read", 0x4200_0000, read)).is_err());
    let write = scenario("hostile_memory_victim_ram_write").check;
    assert!(write(&memory_outcome("victim_ram", "write", 0x6100_0000, read)).is_err());
    let wrote = "stage-2 data abort (write)";
    assert_eq!(
        write(&memory_outcome("victim_ram", "write", 0x6100_0000, wrote)),
        Ok(())
    );
    let exec = scenario("hostile_memory_victim_ram_exec").check;
    let fetch = "stage-2 instruction abort";
    assert_eq!(
        exec(&memory_outcome("victim_ram", "exec", 0x6100_0000, fetch)),
        Ok(())
    );

    let good = memory_outcome("victim_ram", "read", 0x6100_0000, read);
    let mut twice = good.clone();
    twice.uart[0] += "bulkhead: partition attacker (id 1) stopped: stage-2 data abort (read) at IPA 0x61000000\n";
    assert!(check(&twice).is_err());
    let mut ran_on = good.clone();
    ran_on.uart[0] += "[attacker] still here\n";
    assert!(check(&ran_on).is_err());
    let mut victim_stopped = good.clone();
    victim_stopped.uart[0] =
        victim_stopped.uart[0].replace("partition attacker (id 1)", "partition victim (id 0)");
    assert!(check(&victim_stopped).is_err());
    let mut victim_gone = good;
    victim_gone.uart[1] = victim_gone.uart[1]
        .replace("ticks=5000", "ticks=2000")
        .replace("ticks=9000", "ticks=2500");
    assert!(check(&victim_gone).is_err());
}

#[test]
fn storms_need_work_and_both_windows() {
    let sgi = scenario("hostile_storm_sgi").check;
    assert_eq!(
        sgi(&survived(
            "attack storm_sgi result=done count=76689 spinner=1\n"
        )),
        Ok(())
    );
    assert!(sgi(&survived(
        "attack storm_sgi result=done count=0 spinner=1\n"
    ))
    .is_err());
    let spin = scenario("hostile_storm_spin").check;
    assert_eq!(
        spin(&survived(
            "attack storm_spin result=done count=0 spinner=1\n"
        )),
        Ok(())
    );
    let mut no_windows = survived("attack storm_sgi result=done count=5 spinner=1\n");
    no_windows.uart[1] = no_windows.uart[1].replace(
        "victim windows baseline=19001 storm=18996 cntfrq=62500000\n",
        "",
    );
    assert!(sgi(&no_windows).is_err());
    let mut slowed = survived("attack storm_sgi result=done count=5 spinner=1\n");
    slowed.uart[1] = slowed.uart[1].replace("storm=18996", "storm=17000");
    assert!(sgi(&slowed).is_err());
    let mut noisy = survived("attack storm_sgi result=done count=5 spinner=1\n");
    noisy.uart[1] = noisy.uart[1].replace("storm=18996", "storm=18000");
    assert_eq!(sgi(&noisy), Ok(()));
}

#[test]
fn benchmark_ratio_is_storm_over_baseline() {
    let bench = benchmarks()
        .into_iter()
        .find(|b| b.name == "isolation_progress_ratio_sgi")
        .expect("benchmark exists");
    let got = (bench.parse)(
        &survived("attack storm_sgi result=done count=76689 spinner=1\n"),
        None,
    )
    .expect("parses");
    assert_eq!(got[0].name, "isolation_progress_ratio_sgi");
    assert!((got[0].value - 18996.0 / 19001.0).abs() < 1e-12, "{got:?}");
    assert_eq!(got[3].value, 76689.0);
    let mut disturbed = survived("attack storm_sgi result=done count=76689 spinner=1\n");
    disturbed.uart[1] = disturbed.uart[1].replacen("sgis=0", "sgis=1", 1);
    assert!((bench.parse)(&disturbed, None).is_err());
}

/// The memory scenarios, their layouts' bootargs and the guest's target
/// table agree: each layout names the target and access its scenario
/// checks, and every host target is the guest's, at the same IPA.
#[test]
fn memory_family_is_consistent() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../");
    let memory: Vec<Scenario> = scenarios()
        .into_iter()
        .filter(|s| s.name.starts_with("hostile_memory_"))
        .collect();
    assert!(memory.len() >= bulkhead_workload::HOSTILE_MEMORY_TARGETS.len());
    for s in memory {
        let layout = std::fs::read_to_string(format!("{root}../{}", s.layout)).expect("layout");
        let args = layout
            .lines()
            .find_map(|line| line.trim().strip_prefix("bootargs = \"attack=memory "))
            .unwrap_or_else(|| panic!("{}: no memory bootargs", s.name));
        let target = field(args, "target").expect("target=");
        let access = field(args, "access")
            .expect("access=")
            .trim_end_matches("\";");
        let ipa = memory_target_ipa(target).unwrap_or_else(|| panic!("{}: {target}", s.name));
        let reason = match access {
            "write" => "stage-2 data abort (write)",
            "exec" => "stage-2 instruction abort",
            _ => "stage-2 data abort (read)",
        };
        let good = memory_outcome(target, access, ipa, reason);
        assert_eq!((s.check)(&good), Ok(()), "{}", s.name);
        let other = if target == "victim_ram" {
            "uart0"
        } else {
            "victim_ram"
        };
        let wrong = memory_outcome(other, access, memory_target_ipa(other).unwrap(), reason);
        assert!((s.check)(&wrong).is_err(), "{}", s.name);
    }
}
