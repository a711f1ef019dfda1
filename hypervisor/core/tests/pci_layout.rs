//! `pci-functions` and `on-dma-fault`: accepted layouts, one test per refusal, and boot-time assignment.

mod support;

use bulkhead_core::address::PhysRange;
use bulkhead_core::config::{assign_pci_functions, parse_board, parse_layout, OnDmaFault};
use bulkhead_core::pci::{Bar, BarKind, Function, FunctionAddress};
use support::*;

fn functions(tree: &mut TestNode, partition: &str, list: &[&str]) {
    tree.at(partition).set("pci-functions", strings(list));
}

fn address(text: &str) -> FunctionAddress {
    FunctionAddress::parse(text).expect("valid address")
}

#[test]
fn functions_get_their_pin_a_route_and_stream() {
    let layout = accepted(|tree| {
        functions(tree, ALPHA, &["00:02.0", "00:04.0"]);
        tree.at(ALPHA).set("on-dma-fault", strings(&["stop"]));
    });
    let alpha = &layout.partitions[0];
    assert_eq!(alpha.on_dma_fault, OnDmaFault::Stop);
    let summary: Vec<(String, Option<u32>, Option<u32>)> = alpha
        .pci_functions
        .iter()
        .map(|f| (f.address.to_string(), f.interrupt, f.stream))
        .collect();
    // virt's swizzle with pin A: slot 2 -> SPI 5 (INTID 37), slot 4 -> SPI 3 (INTID 35).
    assert_eq!(
        summary,
        [
            ("00:02.0".to_string(), Some(37), Some(0x10)),
            ("00:04.0".to_string(), Some(35), Some(0x20)),
        ]
    );
    assert!(alpha.dma_capable());
    assert_eq!(layout.partitions[1].on_dma_fault, OnDmaFault::Report);
}

#[test]
fn malformed_address() {
    let errors = errors(|tree| functions(tree, ALPHA, &["0:2"]));
    let reason = expect_error(&errors, ALPHA, "pci-functions");
    assert!(reason.contains("\"0:2\""), "{reason}");
}

#[test]
fn device_number_out_of_range() {
    let errors = errors(|tree| functions(tree, ALPHA, &["00:20.0"]));
    expect_error(&errors, ALPHA, "pci-functions");
}

#[test]
fn listed_twice() {
    let errors = errors(|tree| functions(tree, ALPHA, &["00:02.0", "00:02.0"]));
    let reason = expect_error(&errors, ALPHA, "pci-functions");
    assert!(reason.contains("listed twice"), "{reason}");
}

#[test]
fn one_function_two_partitions() {
    let errors = errors(|tree| {
        functions(tree, ALPHA, &["00:02.0"]);
        functions(tree, BETA, &["00:02.0"]);
    });
    let reason = expect_error(&errors, BETA, "pci-functions");
    assert!(
        reason.contains("00:02.0 is also assigned to partition@0 (alpha)"),
        "{reason}"
    );
}

#[test]
fn function_behind_a_host_given_whole_elsewhere() {
    let errors = errors(|tree| {
        tree.at(ALPHA)
            .set("devices", strings(&["/pl011@9000000", "/pcie@10000000"]));
        functions(tree, BETA, &["00:03.0"]);
    });
    let reason = expect_error(&errors, BETA, "pci-functions");
    assert!(reason.contains("sits behind /pcie@10000000"), "{reason}");
}

#[test]
fn host_given_whole_after_a_function_elsewhere() {
    let errors = errors(|tree| {
        functions(tree, ALPHA, &["00:03.0"]);
        tree.at(BETA).set(
            "devices",
            strings(&["/pl011@9040000", "/virtio_mmio@a000200", "/pcie@10000000"]),
        );
    });
    let reason = expect_error(&errors, BETA, "devices");
    assert!(
        reason.contains("its function 00:03.0 belongs to"),
        "{reason}"
    );
}

#[test]
fn host_and_its_functions_in_one_partition() {
    let errors = errors(|tree| {
        tree.at(ALPHA)
            .set("devices", strings(&["/pl011@9000000", "/pcie@10000000"]));
        functions(tree, ALPHA, &["00:02.0"]);
    });
    let reason = expect_error(&errors, ALPHA, "pci-functions");
    assert!(reason.contains("whole host bridge"), "{reason}");
}

#[test]
fn shared_intx_line_between_partitions() {
    // Slots 2 and 6 are in the same swizzle group: both raise SPI 5 with pin A.
    let errors = errors(|tree| {
        functions(tree, ALPHA, &["00:02.0"]);
        functions(tree, BETA, &["00:06.0"]);
    });
    let reason = expect_error(&errors, BETA, "pci-functions");
    assert!(reason.contains("interrupt 37"), "{reason}");
}

#[test]
fn unknown_on_dma_fault() {
    let errors = errors(|tree| tree.at(ALPHA).set("on-dma-fault", strings(&["ignore"])));
    let reason = expect_error(&errors, ALPHA, "on-dma-fault");
    assert!(reason.contains("\"ignore\" is unknown"), "{reason}");
}

#[test]
fn memory_over_the_virtual_ecam() {
    let errors = errors(|tree| {
        functions(tree, ALPHA, &["00:02.0"]);
        tree.at(ALPHA).set(
            "memory",
            cells(&[
                0,
                0x5000_0000,
                0,
                0x4000_0000,
                0,
                0x0800_0000, //
                0,
                0x5800_0000,
                0,
                0x3f00_0000,
                0,
                0x0010_0000,
            ]),
        );
    });
    assert!(
        errors.iter().any(|e| e.node == ALPHA
            && e.property == "memory"
            && e.reason.contains("virtual PCI host's ECAM")),
        "{errors:#?}"
    );
}

fn edu(slot: u8, bar: u64) -> Function {
    Function {
        address: FunctionAddress {
            bus: 0,
            device: slot,
            function: 0,
        },
        vendor_id: 0x1234,
        device_id: 0x11e8,
        class_code: 0x00ff00,
        header_type: 0,
        interrupt_pin: 1,
        bars: vec![Bar {
            index: 0,
            kind: BarKind::Memory32,
            prefetchable: false,
            size: 0x10_0000,
            address: bar,
        }],
    }
}

#[test]
fn boot_assignment_fills_bars_and_reports_absent_functions() {
    let dtb = edited_dtb(|tree| {
        functions(tree, ALPHA, &["00:02.0"]);
        functions(tree, BETA, &["00:05.0"]);
    });
    let board = parse_board(&dtb).expect("board");
    let mut layout = parse_layout(&dtb, &board, RESERVED, HYPERVISOR).expect("layout");
    let found = [edu(2, 0x1000_0000), edu(3, 0x1010_0000)];
    let errors = assign_pci_functions(&mut layout.partitions, &board.pci_hosts[0], &found);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(
        errors[0].to_string(),
        "layout error: /chosen/bulkhead/partition@1: pci-functions: 00:05.0 is not present on /pcie@10000000 (present: 00:02.0, 00:03.0)"
    );
    let alpha = &layout.partitions[0].pci_functions[0];
    assert_eq!(alpha.bars, [PhysRange::new(0x1000_0000, 0x10_0000)]);
    assert_eq!((alpha.pin, alpha.interrupt), (1, Some(37)));
    assert_eq!(address("00:02.0"), alpha.address);
}
