//! Board parsing on the QEMU `virt` fixture: CPUs, RAM, MMIO, GIC, console.

mod support;

use bulkhead_core::config::{parse_board, BoardError, Gic, GicV2, GicV3, PhysRange};
use support::*;

#[test]
fn qemu_virt() {
    let board = parse_board(&qemu_virt_board().to_dtb()).expect("board");
    let cpus: Vec<(&str, u64)> = board
        .cpus
        .iter()
        .map(|c| (c.path.as_str(), c.mpidr))
        .collect();
    assert_eq!(
        cpus,
        [
            ("/cpus/cpu@0", 0),
            ("/cpus/cpu@1", 1),
            ("/cpus/cpu@2", 2),
            ("/cpus/cpu@3", 3)
        ]
    );
    assert_eq!(board.ram, [PhysRange::new(0x4000_0000, 0x8000_0000)]);
    assert_eq!(
        board.gic,
        Some(Gic::V3(GicV3 {
            distributor: PhysRange::new(0x0800_0000, 0x10000),
            redistributors: PhysRange::new(0x080a_0000, 0x00f6_0000),
        }))
    );
    assert_eq!(board.console, Some(PhysRange::new(0x0900_0000, 0x1000)));

    let mmio = |node: &str| -> Vec<PhysRange> {
        board
            .mmio
            .iter()
            .filter(|m| m.node == node)
            .map(|m| m.range)
            .collect()
    };
    assert_eq!(
        mmio("/intc@8000000/its@8080000"),
        [PhysRange::new(0x0808_0000, 0x20000)]
    );
    assert_eq!(
        mmio("/pcie@10000000"),
        [PhysRange::new(0x40_1000_0000, 0x1000_0000)]
    );
    assert_eq!(
        mmio("/flash@0"),
        [
            PhysRange::new(0, 0x0400_0000),
            PhysRange::new(0x0400_0000, 0x0400_0000)
        ]
    );
    assert_eq!(mmio("/fw-cfg@9020000"), [PhysRange::new(0x0902_0000, 0x18)]);
    for not_a_device in ["/memory@40000000", "/cpus/cpu@0", "/chosen", "/psci"] {
        assert!(mmio(not_a_device).is_empty(), "{not_a_device}");
    }
}

#[test]
fn simple_bus_children_are_translated() {
    let mut tree = qemu_virt_board();
    tree.at("/platform-bus@c000000")
        .children
        .push(TestNode::new("dev@20000").cells("reg", &[0x20000, 0x100]));
    let board = parse_board(&tree.to_dtb()).expect("board");
    let region = board
        .mmio
        .iter()
        .find(|m| m.node == "/platform-bus@c000000/dev@20000")
        .expect("child");
    assert_eq!(region.range, PhysRange::new(0x0c02_0000, 0x100));
}

#[test]
fn child_outside_bus_ranges_is_an_error() {
    let mut tree = qemu_virt_board();
    tree.at("/platform-bus@c000000")
        .children
        .push(TestNode::new("dev@3000000").cells("reg", &[0x0300_0000, 0x100]));
    let error = parse_board(&tree.to_dtb()).expect_err("outside ranges");
    assert!(
        matches!(&error, BoardError::Property { node, property, .. } if node == "/platform-bus@c000000/dev@3000000" && property == "reg"),
        "{error}"
    );
}

#[test]
fn console_through_alias_with_options() {
    let mut tree = qemu_virt_board();
    tree.at("/chosen")
        .set("stdout-path", strings(&["serial1:115200n8"]));
    let board = parse_board(&tree.to_dtb()).expect("board");
    assert_eq!(board.console, Some(PhysRange::new(0x0904_0000, 0x1000)));
}

#[test]
fn console_naming_missing_node() {
    let mut tree = qemu_virt_board();
    tree.at("/chosen").set("stdout-path", strings(&["serial7"]));
    let error = parse_board(&tree.to_dtb()).expect_err("no such alias");
    assert_eq!(
        error.to_string(),
        "/chosen: stdout-path: names serial7, which is not in the device tree"
    );
}

#[test]
fn missing_cpus() {
    let mut tree = qemu_virt_board();
    tree.children.retain(|c| c.name != "cpus");
    assert_eq!(
        parse_board(&tree.to_dtb()),
        Err(BoardError::MissingNode("/cpus"))
    );
}

#[test]
fn missing_memory() {
    let mut tree = qemu_virt_board();
    tree.children.retain(|c| !c.name.starts_with("memory"));
    assert_eq!(
        parse_board(&tree.to_dtb()),
        Err(BoardError::MissingNode("/memory"))
    );
}

#[test]
fn malformed_reg() {
    let mut tree = qemu_virt_board();
    tree.at("/pl011@9000000")
        .set("reg", cells(&[0, 0x0900_0000, 0]));
    let error = parse_board(&tree.to_dtb()).expect_err("3 cells");
    assert!(
        error.to_string().starts_with("/pl011@9000000: reg: "),
        "{error}"
    );
}

#[test]
fn not_a_dtb() {
    assert!(matches!(
        parse_board(b"hello"),
        Err(BoardError::Malformed(_))
    ));
    assert!(matches!(
        parse_board(&[0u8; 64]),
        Err(BoardError::Malformed(_))
    ));
}

/// QEMU `virt,gic-version=2,virtualization=on`: its GIC node as QEMU writes it.
fn gicv2_board() -> TestNode {
    let mut board = qemu_virt_board();
    let gic = board.at("/intc@8000000");
    gic.set("compatible", strings(&["arm,cortex-a15-gic"]));
    gic.set(
        "reg",
        cells(&[
            0,
            0x0800_0000,
            0,
            0x10000,
            0,
            0x0801_0000,
            0,
            0x10000,
            0,
            0x0803_0000,
            0,
            0x10000,
            0,
            0x0804_0000,
            0,
            0x10000,
        ]),
    );
    gic.remove("#redistributor-regions");
    board
}

#[test]
fn gicv2_from_its_compatible() {
    let board = parse_board(&gicv2_board().to_dtb()).expect("board");
    let expected = GicV2 {
        distributor: PhysRange::new(0x0800_0000, 0x10000),
        cpu_interface: PhysRange::new(0x0801_0000, 0x10000),
        hypervisor_interface: Some(PhysRange::new(0x0803_0000, 0x10000)),
        virtual_cpu_interface: Some(PhysRange::new(0x0804_0000, 0x10000)),
    };
    assert_eq!(board.gic, Some(Gic::V2(expected.clone())));
    assert_eq!(board.gic_v2(), Some(&expected));
    assert_eq!(board.gic_v3(), None);
    // The GIC-400 (Raspberry Pi 4) is a GICv2 too; without GICH/GICV it has
    // no virtualization extensions, which the board still describes.
    let mut gic400 = gicv2_board();
    let gic = gic400.at("/intc@8000000");
    gic.set("compatible", strings(&["arm,gic-400"]));
    gic.set(
        "reg",
        cells(&[0, 0x0800_0000, 0, 0x1000, 0, 0x0801_0000, 0, 0x2000]),
    );
    let board = parse_board(&gic400.to_dtb()).expect("board");
    let gic = board.gic_v2().expect("a GICv2");
    assert_eq!(gic.hypervisor_interface, None);
    assert_eq!(gic.virtual_cpu_interface, None);
}

#[test]
fn gicv2_needs_its_cpu_interface() {
    let mut board = gicv2_board();
    board
        .at("/intc@8000000")
        .set("reg", cells(&[0, 0x0800_0000, 0, 0x10000]));
    let error = parse_board(&board.to_dtb()).expect_err("refused");
    assert!(error.to_string().contains("CPU interface"), "{error}");
}
