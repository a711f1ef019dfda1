//! Board descriptions read from the two boards' DTs: cores and how they start, RAM, devices, the EL2 map.
//!
//! QEMU virt: the DTB QEMU dumps (committed with the guest DT tests).
//! Raspberry Pi 4: `tests/boards/rpi4-like.dts`, compiled with dtc here,
//! and, when `BULKHEAD_RPI4_DTB` names it (`cargo xtask test` fetches
//! Debian's `bcm2711-rpi-4-b.dtb` and completes it as QEMU raspi4b does),
//! the real one.

use std::process::Command;

use bulkhead_core::config::el2_map::{BlockKind, EarlyMap, El2Map, GibPlan, BLOCK_SIZE};
use bulkhead_core::config::{
    bcm2835_power_manager, parse_board, root_interrupt_controller, BoardError, EnableMethod, Gic,
    PhysAddr, PhysRange,
};

const QEMU_VIRT_DTB: &[u8] = include_bytes!("../src/guest_dt/testdata/qemu-virt.dtb");

/// `dtc -I dts -O dtb` of `source`; the test needs dtc (installed by `cargo xtask`).
fn compile(source: &str) -> Vec<u8> {
    let output = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin is piped")
                .write_all(source.as_bytes())?;
            child.wait_with_output()
        })
        .expect("dtc runs (apt-get install device-tree-compiler)");
    assert!(
        output.status.success(),
        "dtc: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

const RPI4_LIKE: &str = include_str!("boards/rpi4-like.dts");

fn rpi4_like() -> Vec<u8> {
    compile(RPI4_LIKE)
}

fn rpi4_reserved() -> PhysRange {
    let platform = bulkhead_platform_rpi4();
    PhysRange::new(platform.0, platform.1)
}

/// The rpi4 reserved area (see `platform::rpi4`), without depending on the platform crate.
fn bulkhead_platform_rpi4() -> (u64, u64) {
    (0, 0x1000_0000)
}

#[test]
fn qemu_virt_cores_start_by_psci() {
    let board = parse_board(QEMU_VIRT_DTB).unwrap();
    assert!(board.firmware_psci);
    assert_eq!(board.cpus.len(), 4);
    assert!(board
        .cpus
        .iter()
        .all(|cpu| cpu.enable_method == EnableMethod::Psci));
}

#[test]
fn qemu_virt_identity_map_from_its_dt() {
    let board = parse_board(QEMU_VIRT_DTB).unwrap();
    let map = El2Map::from_board(&board, &[]).unwrap();
    // 2 GiB of RAM at 1 GiB: two whole 1 GiB normal blocks.
    assert_eq!(map.gib(1), GibPlan::Uniform(BlockKind::Normal));
    assert_eq!(map.gib(2), GibPlan::Uniform(BlockKind::Normal));
    // Nothing above RAM up to the high ECAM.
    assert_eq!(map.gib(3), GibPlan::Uniform(BlockKind::Unmapped));
    // Below RAM: the UART, the GIC and the 32-bit PCI window are devices.
    assert!(map.covers(PhysRange::new(0x0900_0000, 0x1000), BlockKind::Device));
    assert!(map.covers(PhysRange::new(0x0800_0000, 0x10000), BlockKind::Device));
    assert!(map.covers(PhysRange::new(0x1000_0000, 0x2eff_0000), BlockKind::Device));
    // The high ECAM (256 MiB at 0x40_1000_0000) is device memory.
    assert!(map.covers(
        PhysRange::new(0x40_1000_0000, 0x1000_0000),
        BlockKind::Device
    ));
    assert!(map.tables_needed() <= 4, "{}", map.tables_needed());
}

#[test]
fn rpi4_cores_start_by_spin_table() {
    let board = parse_board(&rpi4_like()).unwrap();
    assert!(!board.firmware_psci, "the RPi4 firmware has no PSCI");
    let releases: Vec<_> = board
        .cpus
        .iter()
        .map(|cpu| (cpu.mpidr, cpu.enable_method))
        .collect();
    assert_eq!(
        releases,
        [0xd8, 0xe0, 0xe8, 0xf0]
            .into_iter()
            .enumerate()
            .map(|(mpidr, release)| (
                mpidr as u64,
                EnableMethod::SpinTable {
                    release: PhysAddr(release)
                }
            ))
            .collect::<Vec<_>>()
    );
}

#[test]
fn rpi4_devices_are_translated_through_soc_ranges() {
    let board = parse_board(&rpi4_like()).unwrap();
    assert_eq!(board.ram, [PhysRange::new(0, 0x3c00_0000)]);
    let uart = board
        .mmio
        .iter()
        .find(|region| region.node == "/soc/serial@7e201000")
        .unwrap();
    assert_eq!(uart.range, PhysRange::new(0xfe20_1000, 0x200));
    let gic: Vec<_> = board
        .mmio
        .iter()
        .filter(|region| region.node == "/soc/interrupt-controller@40041000")
        .map(|region| region.range.start.0)
        .collect();
    assert_eq!(gic, [0xff84_1000, 0xff84_2000, 0xff84_4000, 0xff84_6000]);
    // The stdout is the mini UART, which is no PL011: the early console stays.
    assert_eq!(board.console, None);
    // The GIC-400, its four frames translated through /soc's ranges.
    let Some(Gic::V2(gic)) = &board.gic else {
        panic!("no GICv2: {:?}", board.gic);
    };
    assert_eq!(gic.distributor, PhysRange::new(0xff84_1000, 0x1000));
    assert_eq!(gic.cpu_interface, PhysRange::new(0xff84_2000, 0x2000));
    assert_eq!(
        gic.hypervisor_interface,
        Some(PhysRange::new(0xff84_4000, 0x2000))
    );
    assert_eq!(
        gic.virtual_cpu_interface,
        Some(PhysRange::new(0xff84_6000, 0x2000))
    );
    assert_eq!(
        root_interrupt_controller(&rpi4_like()),
        Some((
            "/soc/interrupt-controller@40041000".to_string(),
            "arm,gic-400".to_string()
        ))
    );
}

#[test]
fn rpi4_identity_map_keeps_ram_normal_and_devices_device() {
    let board = parse_board(&rpi4_like()).unwrap();
    let map = El2Map::from_board(&board, &[rpi4_reserved()]).unwrap();
    // RAM at 0 is normal memory (the old hard-coded map made it Device).
    assert!(map.covers(PhysRange::new(0, 0x3c00_0000), BlockKind::Normal));
    // The VideoCore's memory above the DT's RAM is not mapped at all.
    match map.gib(0) {
        GibPlan::Split(blocks) => {
            let vc = (0x3c00_0000 / BLOCK_SIZE) as usize;
            assert_eq!(blocks[vc - 1], BlockKind::Normal);
            assert_eq!(blocks[vc], BlockKind::Unmapped);
        }
        other => panic!("GiB 0 should be split: {other:?}"),
    }
    // The UART and the GIC-400 sit in the last GiB, as device memory.
    assert!(map.covers(PhysRange::new(0xfe20_1000, 0x200), BlockKind::Device));
    assert!(map.covers(PhysRange::new(0xff84_1000, 0x8000), BlockKind::Device));
    assert!(!map.covers(PhysRange::new(0xc000_0000, 0x1000), BlockKind::Device));
    assert_eq!(map.tables_needed(), 2);
}

#[test]
fn rpi4_as_shipped_is_refused_naming_its_empty_memory_node() {
    let shipped = RPI4_LIKE.replace("reg = <0x0 0x0 0x3c000000>;", "reg = <0x0 0x0 0x0>;");
    let error = parse_board(&compile(&shipped)).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("/memory@0: reg: has no RAM in it"),
        "{error}"
    );
}

#[test]
fn spin_table_without_release_address_is_refused() {
    let broken = RPI4_LIKE.replace("cpu-release-addr = <0x0 0xe0>;", "");
    let error = parse_board(&compile(&broken)).unwrap_err();
    assert_eq!(
        error,
        BoardError::Property {
            node: "/cpus/cpu@1".into(),
            property: "cpu-release-addr".into(),
            reason: "is missing: a \"spin-table\" core needs its release address".into(),
        }
    );
    let misaligned = RPI4_LIKE.replace("<0x0 0xe0>", "<0x0 0xe4>");
    let error = parse_board(&compile(&misaligned)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/cpus/cpu@1: cpu-release-addr: 0xe4 is not 8-byte aligned"
    );
}

#[test]
fn unknown_enable_method_is_refused() {
    let odd = RPI4_LIKE.replacen(
        "enable-method = \"spin-table\";",
        "enable-method = \"acme,smp\";",
        1,
    );
    let error = parse_board(&compile(&odd)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/cpus/cpu@0: enable-method: \"acme,smp\": Bulkhead starts cores by \"psci\" or \"spin-table\" only"
    );
}

#[test]
fn device_sharing_a_block_with_ram_is_refused() {
    // RAM ending 1 MiB into a 2 MiB block, a device in the other half.
    let dts = RPI4_LIKE.replace("reg = <0x0 0x0 0x3c000000>;", "reg = <0x0 0x0 0x3c100000>;");
    let dts = dts.replace(
        "gicv2: interrupt-controller@40041000 {",
        "odd@3c180000 { reg = <0x3c180000 0x1000>; };\n\t\tgicv2: interrupt-controller@40041000 {",
    );
    let dts = dts.replace(
        "<0x40000000 0x0 0xff800000 0x800000>;",
        "<0x40000000 0x0 0xff800000 0x800000>, <0x3c000000 0x0 0x3c000000 0x200000>;",
    );
    let board = parse_board(&compile(&dts)).unwrap();
    let error = El2Map::from_board(&board, &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "/soc/odd@3c180000: reg: 0x3c180000..0x3c181000 shares a 2 MiB block with RAM at 0x0..0x3c200000: Bulkhead's EL2 map cannot give one block two memory types"
    );
}

#[test]
fn early_map_holds_the_reserved_area_the_dtb_and_the_console() {
    let early = EarlyMap {
        reserved: rpi4_reserved(),
        early_console: PhysAddr(0xfe20_1000),
        dtb: PhysAddr(0x3b12_3000),
    };
    assert_eq!(early.kind_at(0), BlockKind::Normal);
    assert_eq!(early.kind_at(0x0fff_ffff), BlockKind::Normal);
    assert_eq!(early.kind_at(0x1000_0000), BlockKind::Unmapped);
    // The DTB's block and the next: a 2 MiB DTB fits wherever it starts.
    assert_eq!(early.kind_at(0x3b00_0000), BlockKind::Normal);
    assert_eq!(early.kind_at(0x3b3f_ffff), BlockKind::Normal);
    assert_eq!(early.kind_at(0x3b40_0000), BlockKind::Unmapped);
    assert_eq!(early.kind_at(0xfe20_1000), BlockKind::Device);
    assert_eq!(early.kind_at(0xfe40_0000), BlockKind::Unmapped);
}

/// Debian's own bcm2711-rpi-4-b.dtb, completed by QEMU raspi4b, when the test command provides it.
#[test]
fn real_rpi4_dtb_when_provided() {
    let Some(path) = std::env::var_os("BULKHEAD_RPI4_DTB") else {
        eprintln!("BULKHEAD_RPI4_DTB not set: real RPi4 DTB not checked");
        return;
    };
    let dtb = std::fs::read(&path).unwrap();
    let board = parse_board(&dtb).unwrap();
    assert_eq!(board.cpus.len(), 4);
    assert!(!board.firmware_psci);
    assert!(matches!(
        board.cpus[1].enable_method,
        EnableMethod::SpinTable {
            release: PhysAddr(0xe0)
        }
    ));
    assert!(board
        .mmio
        .iter()
        .any(|region| region.range == PhysRange::new(0xfe20_1000, 0x200)));
    let map = El2Map::from_board(&board, &[rpi4_reserved()]).unwrap();
    assert!(map.covers(PhysRange::new(0xff84_1000, 0x8000), BlockKind::Device));
    assert!(map.covers(board.ram[0], BlockKind::Normal));
    assert_eq!(
        root_interrupt_controller(&dtb).map(|(_, compatible)| compatible),
        Some("arm,gic-400".to_string())
    );
}

#[test]
fn partition_memory_over_a_spin_table_release_word_is_refused() {
    let layout = r#"
	chosen {
		bulkhead {
			compatible = "bulkhead,layout-v1";
			#address-cells = <1>;
			#size-cells = <0>;
			partition@0 {
				reg = <0>;
				label = "low";
				cpus = <0x1>;
				memory = <0x0 0x0 0x0 0x0 0x0 0x200000>;
				kernel = <0x0 0x18000000 0x0 0x100000>;
			};
		};
	};
	cpus {"#;
    let dts = RPI4_LIKE.replacen("\tcpus {", layout, 1);
    let dts = dts.replacen(
        "\tchosen {\n\t\tstdout-path = \"serial1:115200n8\";\n\t};\n",
        "",
        1,
    );
    let dtb = compile(&dts);
    let board = parse_board(&dtb).unwrap();
    // A reserved area elsewhere, so that only the release words are in the way.
    let reserved = PhysRange::new(0x1000_0000, 0x1000_0000);
    let hypervisor = PhysRange::new(0x1000_0000, 0x0400_0000);
    let errors =
        bulkhead_core::config::parse_layout(&dtb, &board, reserved, hypervisor).unwrap_err();
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for (cpu, word) in [(0, 0xd8), (1, 0xe0), (2, 0xe8), (3, 0xf0)] {
        let expected = format!(
            "layout error: /chosen/bulkhead/partition@0: memory: region 0x0+0x200000 holds the spin-table release word of /cpus/cpu@{cpu} ({word:#x}), which that core waits on at EL2"
        );
        assert!(lines.contains(&expected), "{lines:#?}");
    }
}

#[test]
fn rpi4_power_manager_is_found_translated() {
    assert_eq!(
        bcm2835_power_manager(&rpi4_like()).unwrap(),
        Some(PhysRange::new(0xfe10_0000, 0x114))
    );
    assert_eq!(bcm2835_power_manager(QEMU_VIRT_DTB).unwrap(), None);
    let short = RPI4_LIKE.replace("<0x7e100000 0x114>", "<0x7e100000 0x10>");
    assert_eq!(
        bcm2835_power_manager(&compile(&short)).unwrap_err().to_string(),
        "/soc/watchdog@7e100000: reg: must start with the power-management registers (at least 0x28 bytes: RSTC, RSTS, WDOG)"
    );
}

/// `uniform_gib` (what the page-table builder asks) agrees with the
/// block-by-block plan on every gigabyte, for both boards' maps and the
/// early map: a uniform gigabyte is all of one kind, and one the block view
/// calls uniform is never split needlessly (the early map may split).
#[test]
fn uniform_gigabytes_agree_with_the_blocks() {
    let qemu = El2Map::from_board(&parse_board(QEMU_VIRT_DTB).unwrap(), &[]).unwrap();
    let rpi4 = El2Map::from_board(&parse_board(&rpi4_like()).unwrap(), &[rpi4_reserved()]).unwrap();
    for map in [&qemu, &rpi4] {
        for index in 0..512 {
            match (map.uniform_gib(index), map.gib(index)) {
                (Some(kind), GibPlan::Uniform(block_kind)) => assert_eq!(kind, block_kind),
                (None, GibPlan::Split(blocks)) => {
                    assert!(blocks.iter().any(|&kind| kind != blocks[0]), "GiB {index}")
                }
                (fast, slow) => panic!("GiB {index}: {fast:?} vs {slow:?}"),
            }
        }
    }
    let early = EarlyMap {
        reserved: rpi4_reserved(),
        early_console: PhysAddr(0xfe20_1000),
        dtb: PhysAddr(0x3b12_3000),
    };
    for index in 0..512 {
        if let Some(kind) = early.uniform_gib(index) {
            let base = index as u64 * (1 << 30);
            for block in 0..512 {
                assert_eq!(
                    early.kind_at(base + block * BLOCK_SIZE),
                    kind,
                    "GiB {index}"
                );
            }
        }
    }
    assert_eq!(early.uniform_gib(0), None);
    assert_eq!(early.uniform_gib(5), Some(BlockKind::Unmapped));
}
