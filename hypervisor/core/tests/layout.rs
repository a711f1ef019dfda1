//! Layout binding v1: the good layout, and one test per refusal naming its node and property.

mod support;

use bulkhead_core::config::virtual_console::ConsoleUart;
use bulkhead_core::config::{
    parse_board, parse_layout, Device, Ipa, Layout, LayoutError, MemoryRegion, Module, Partition,
    PhysAddr, PhysRange,
};
use support::*;

/// The only error is for this node and property; returns its reason.
fn expect_only(errors: &[LayoutError], node: &str, property: &str) -> String {
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    expect_error(errors, node, property)
}

fn set(path: &str, property: &str, value: Vec<u8>) -> impl FnOnce(&mut TestNode) {
    let (path, property) = (path.to_string(), property.to_string());
    move |tree| tree.at(&path).set(&property, value)
}

fn remove(path: &str, property: &str) -> impl FnOnce(&mut TestNode) {
    let (path, property) = (path.to_string(), property.to_string());
    move |tree| tree.at(&path).remove(&property)
}

fn memory(regions: &[(u64, u64, u64)]) -> Vec<u8> {
    let words: Vec<u32> = regions
        .iter()
        .flat_map(|&(pa, ipa, size)| [pa, ipa, size])
        .flat_map(|v| [(v >> 32) as u32, v as u32])
        .collect();
    cells(&words)
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    cells(&[(a >> 32) as u32, a as u32, (b >> 32) as u32, b as u32])
}

#[test]
fn good_two_partition_layout() {
    let layout = parse(&edited_dtb(|_| {})).unwrap_or_else(|e| panic!("{e:#?}"));
    let uart = |path: &str, base, intid| Device {
        path: path.to_string(),
        regs: vec![PhysRange::new(base, 0x1000)],
        interrupts: vec![intid],
        dma_capable: false,
    };
    let expected = Layout {
        partitions: vec![
            Partition {
                id: 0,
                label: "alpha".into(),
                node: ALPHA.into(),
                cpus: vec![0, 1],
                memory: vec![MemoryRegion {
                    pa: PhysAddr(0x5000_0000),
                    ipa: Ipa(0x4000_0000),
                    size: 0x1000_0000,
                }],
                devices: vec![uart("/pl011@9000000", 0x0900_0000, 33)],
                kernel: Module {
                    pa: PhysAddr(0x4c00_0000),
                    size: 0x10_0000,
                },
                load_address: Ipa(0x4000_0000),
                initrd: None,
                bootargs: None,
                checkpoint: None,
                manages: Vec::new(),
                pci_functions: Vec::new(),
                on_dma_fault: Default::default(),
                stage2_fault: Default::default(),
                channels: Vec::new(),
                virtual_console: false,
            },
            Partition {
                id: 1,
                label: "beta".into(),
                node: BETA.into(),
                cpus: vec![3, 2],
                memory: vec![
                    MemoryRegion {
                        pa: PhysAddr(0x6000_0000),
                        ipa: Ipa(0x4000_0000),
                        size: 0x1000_0000,
                    },
                    MemoryRegion {
                        pa: PhysAddr(0x7000_0000),
                        ipa: Ipa(0x5000_0000),
                        size: 0x100_0000,
                    },
                ],
                devices: vec![
                    uart("/pl011@9040000", 0x0904_0000, 40),
                    Device {
                        path: "/virtio_mmio@a000200".into(),
                        regs: vec![PhysRange::new(0x0a00_0200, 0x200)],
                        interrupts: vec![32 + 0x11],
                        dma_capable: true, // virtio-mmio nodes are `dma-coherent`
                    },
                ],
                kernel: Module {
                    pa: PhysAddr(0x4c10_0000),
                    size: 0x20_0000,
                },
                load_address: Ipa(0x4008_0000),
                initrd: None,
                bootargs: None,
                checkpoint: None,
                manages: Vec::new(),
                pci_functions: Vec::new(),
                on_dma_fault: Default::default(),
                stage2_fault: Default::default(),
                channels: Vec::new(),
                virtual_console: false,
            },
        ],
        channels: Vec::new(),
        test_hooks: false,
        console: Some(ConsoleUart {
            path: "/pl011@9070000".into(),
            registers: PhysRange::new(0x0907_0000, 0x1000),
            intid: Some(32 + 9),
        }),
    };
    assert_eq!(layout, expected);

    assert_eq!(layout.partition_of_cpu(0), Some((0, 0)));
    assert_eq!(layout.partition_of_cpu(3), Some((1, 0)));
    assert_eq!(layout.partition_of_cpu(2), Some((1, 1)));
    assert_eq!(layout.partition_of_cpu(4), None);

    let beta = &layout.partitions[1];
    assert_eq!(beta.memory_bytes(), 0x1100_0000);
    assert_eq!(
        beta.ipa_to_pa(Ipa(0x4000_1000), 0x10),
        Some(PhysAddr(0x6000_1000))
    );
    assert_eq!(
        beta.ipa_to_pa(Ipa(0x5000_0000), 0),
        Some(PhysAddr(0x7000_0000))
    );
    assert_eq!(
        beta.ipa_to_pa(Ipa(0x4fff_ffff), 1),
        Some(PhysAddr(0x6fff_ffff))
    );
    // Contiguous in IPA but two regions: not one region, so refused.
    assert_eq!(beta.ipa_to_pa(Ipa(0x4fff_fff0), 0x20), None);
    assert_eq!(beta.ipa_to_pa(Ipa(0x5100_0000), 0), None);
    assert_eq!(beta.ipa_to_pa(Ipa(u64::MAX), 2), None);
    assert!(beta.owns_mmio(PhysAddr(0x0904_0ff8), 8));
    assert!(!beta.owns_mmio(PhysAddr(0x0904_0ff8), 9));
    assert!(!beta.owns_mmio(PhysAddr(0x0900_0000), 4));
    assert!(!beta.owns_mmio(PhysAddr(u64::MAX), 4));
}

#[test]
fn partitions_are_sorted_by_id() {
    let dtb = edited_dtb(|tree| {
        tree.at(ALPHA).set("reg", cells(&[7]));
    });
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let ids: Vec<u32> = layout.partitions.iter().map(|p| p.id).collect();
    assert_eq!(ids, [1, 7]);
    assert_eq!(layout.partition_of_cpu(0), Some((1, 0)));
}

#[test]
fn display_format() {
    let error = LayoutError::new(
        ALPHA,
        "memory",
        "region 0x50000000+0x10000000 overlaps partition@1 (beta)",
    );
    assert_eq!(
        error.to_string(),
        "layout error: /chosen/bulkhead/partition@0: memory: region 0x50000000+0x10000000 overlaps partition@1 (beta)"
    );
}

#[test]
fn missing_layout_node() {
    let dtb = qemu_virt_board().to_dtb();
    let errors = parse(&dtb).expect_err("no layout");
    expect_only(&errors, "/chosen", "bulkhead");
}

#[test]
fn missing_compatible() {
    expect_only(&errors(remove(LAYOUT, "compatible")), LAYOUT, "compatible");
}

#[test]
fn unknown_compatible() {
    let reason = expect_only(
        &errors(set(LAYOUT, "compatible", strings(&["bulkhead,layout-v2"]))),
        LAYOUT,
        "compatible",
    );
    assert!(reason.contains("bulkhead,layout-v2"), "{reason}");
}

#[test]
fn no_partitions() {
    let errors = errors(|tree| tree.at(LAYOUT).children.clear());
    expect_only(&errors, LAYOUT, "partition@*");
}

#[test]
fn unknown_child_node() {
    let errors = errors(|tree| tree.at(LAYOUT).children.push(TestNode::new("partiton@2")));
    expect_only(&errors, "/chosen/bulkhead/partiton@2", "name");
}

#[test]
fn partition_without_reg() {
    expect_only(&errors(remove(ALPHA, "reg")), ALPHA, "reg");
}

#[test]
fn partition_reg_not_one_cell() {
    expect_only(&errors(set(ALPHA, "reg", cells(&[0, 0]))), ALPHA, "reg");
}

#[test]
fn duplicate_id() {
    let reason = expect_only(&errors(set(BETA, "reg", cells(&[0]))), BETA, "reg");
    assert!(reason.contains("partition@0 (alpha)"), "{reason}");
}

#[test]
fn duplicate_label() {
    let reason = expect_only(
        &errors(set(BETA, "label", strings(&["alpha"]))),
        BETA,
        "label",
    );
    assert!(reason.contains("partition@0 (alpha)"), "{reason}");
}

#[test]
fn missing_label() {
    expect_only(&errors(remove(ALPHA, "label")), ALPHA, "label");
}

#[test]
fn label_not_utf8() {
    expect_only(
        &errors(set(ALPHA, "label", vec![0xff, 0xfe, 0])),
        ALPHA,
        "label",
    );
}

#[test]
fn cpus_missing() {
    expect_only(&errors(remove(ALPHA, "cpus")), ALPHA, "cpus");
}

#[test]
fn cpus_empty() {
    expect_only(&errors(set(ALPHA, "cpus", Vec::new())), ALPHA, "cpus");
}

#[test]
fn cpus_not_cells() {
    expect_only(&errors(set(ALPHA, "cpus", vec![0, 0, 1])), ALPHA, "cpus");
}

#[test]
fn cpu_absent_from_board() {
    let reason = expect_only(
        &errors(set(ALPHA, "cpus", cells(&[0, 0x100]))),
        ALPHA,
        "cpus",
    );
    assert!(reason.contains("0x100"), "{reason}");
}

#[test]
fn cpu_listed_twice() {
    expect_only(&errors(set(ALPHA, "cpus", cells(&[1, 1]))), ALPHA, "cpus");
}

#[test]
fn cpu_in_two_partitions() {
    let reason = expect_only(&errors(set(BETA, "cpus", cells(&[2, 1]))), BETA, "cpus");
    assert!(
        reason.contains("0x1") && reason.contains("partition@0 (alpha)"),
        "{reason}"
    );
}

#[test]
fn memory_missing() {
    // The kernel's default load address comes from memory, so only memory is blamed.
    expect_only(&errors(remove(ALPHA, "memory")), ALPHA, "memory");
}

#[test]
fn memory_cells_not_multiple_of_six() {
    expect_only(
        &errors(set(
            ALPHA,
            "memory",
            cells(&[0, 0x5000_0000, 0, 0x4000_0000, 0]),
        )),
        ALPHA,
        "memory",
    );
}

#[test]
fn memory_not_cells() {
    expect_only(
        &errors(set(ALPHA, "memory", vec![1, 2, 3, 4, 5, 6, 7])),
        ALPHA,
        "memory",
    );
}

#[test]
fn memory_zero_size() {
    let regions = memory(&[
        (0x5000_0000, 0x4000_0000, 0x1000_0000),
        (0x5800_0000, 0x8000_0000, 0),
    ]);
    expect_only(&errors(set(ALPHA, "memory", regions)), ALPHA, "memory");
}

#[test]
fn memory_unaligned() {
    for (pa, ipa, size) in [
        (0x5000_0800, 0x4000_0000, 0x0fff_f000),
        (0x5000_0000, 0x4000_0010, 0x1000_0000),
        (0x5000_0000, 0x4000_0000, 0x0fff_f001),
    ] {
        let reason = expect_only(
            &errors(set(ALPHA, "memory", memory(&[(pa, ipa, size)]))),
            ALPHA,
            "memory",
        );
        assert!(reason.contains("4 KiB"), "{reason}");
    }
}

#[test]
fn memory_outside_ram() {
    let reason = expect_only(
        &errors(set(
            ALPHA,
            "memory",
            memory(&[(0xc000_0000, 0x4000_0000, 0x1000_0000)]),
        )),
        ALPHA,
        "memory",
    );
    assert!(reason.contains("0xc0000000+0x10000000"), "{reason}");
}

#[test]
fn memory_straddling_end_of_ram() {
    expect_only(
        &errors(set(
            ALPHA,
            "memory",
            memory(&[(0xbff0_0000, 0x4000_0000, 0x20_0000)]),
        )),
        ALPHA,
        "memory",
    );
}

#[test]
fn memory_overlaps_other_partition() {
    let regions = memory(&[(0x5800_0000, 0x4000_0000, 0x1000_0000)]);
    let reason = expect_only(&errors(set(BETA, "memory", regions)), BETA, "memory");
    assert_eq!(reason, "region 0x58000000+0x10000000 overlaps partition@0 (alpha), at its region 0x50000000+0x10000000");
}

#[test]
fn memory_overlaps_own_region_by_pa() {
    let regions = memory(&[
        (0x5000_0000, 0x4000_0000, 0x1000_0000),
        (0x5800_0000, 0x6000_0000, 0x1000),
    ]);
    let reason = expect_only(&errors(set(ALPHA, "memory", regions)), ALPHA, "memory");
    assert!(reason.contains("same partition"), "{reason}");
}

#[test]
fn memory_overlaps_reserved_area() {
    let regions = memory(&[(0x4f00_0000, 0x4000_0000, 0x0200_0000)]);
    let reason = expect_only(&errors(set(ALPHA, "memory", regions)), ALPHA, "memory");
    assert!(reason.contains("reserved"), "{reason}");
}

#[test]
fn memory_overlaps_mmio() {
    // Also outside RAM; the MMIO clash must be named too.
    let errors = errors(set(
        ALPHA,
        "memory",
        memory(&[(0x0900_0000, 0x4000_0000, 0x1000)]),
    ));
    let reasons: Vec<_> = errors
        .iter()
        .filter(|e| e.node == ALPHA && e.property == "memory")
        .collect();
    assert!(
        reasons
            .iter()
            .any(|e| e.reason.contains("MMIO of /pl011@9000000")),
        "{errors:#?}"
    );
}

#[test]
fn memory_overlapping_ipas() {
    let regions = memory(&[
        (0x5000_0000, 0x4000_0000, 0x0800_0000),
        (0x5800_0000, 0x4400_0000, 0x0800_0000),
    ]);
    let reason = expect_only(&errors(set(ALPHA, "memory", regions)), ALPHA, "memory");
    assert!(reason.contains("IPA"), "{reason}");
}

#[test]
fn memory_ipa_overlaps_own_device() {
    let regions = memory(&[
        (0x5000_0000, 0x4000_0000, 0x0800_0000),
        (0x5800_0000, 0x0900_0000, 0x1000),
    ]);
    let reason = expect_only(&errors(set(ALPHA, "memory", regions)), ALPHA, "memory");
    assert!(reason.contains("/pl011@9000000"), "{reason}");
}

#[test]
fn memory_ipa_overflow() {
    let regions = memory(&[(0x5000_0000, 0xffff_ffff_ffff_f000, 0x2000)]);
    let errors = errors(set(ALPHA, "memory", regions));
    expect_error(&errors, ALPHA, "memory");
    assert!(errors.iter().all(|e| e.node == ALPHA), "{errors:#?}");
}

#[test]
fn device_not_in_board() {
    let reason = expect_only(
        &errors(set(ALPHA, "devices", strings(&["/pl011@1234"]))),
        ALPHA,
        "devices",
    );
    assert!(reason.contains("/pl011@1234"), "{reason}");
}

#[test]
fn device_in_two_partitions() {
    let devices = strings(&["/pl011@9040000", "/pl011@9000000"]);
    let reason = expect_only(&errors(set(BETA, "devices", devices)), BETA, "devices");
    assert!(
        reason.contains("/pl011@9000000") && reason.contains("alpha"),
        "{reason}"
    );
}

#[test]
fn device_without_reg_is_allowed_but_exclusive() {
    let dtb = edited_dtb(set(
        ALPHA,
        "devices",
        strings(&["/pl011@9000000", "/gpio-keys"]),
    ));
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let keys = &layout.partitions[0].devices[1];
    assert_eq!(
        (keys.path.as_str(), keys.regs.len(), keys.interrupts.len()),
        ("/gpio-keys", 0, 0)
    );

    let errors = errors(|tree| {
        tree.at(ALPHA).set("devices", strings(&["/gpio-keys"]));
        tree.at(BETA).set("devices", strings(&["/gpio-keys"]));
    });
    expect_only(&errors, BETA, "devices");
}

#[test]
fn device_sharing_a_page_with_another_partition() {
    // virtio_mmio@a000000 and @a000200 share one 4 KiB page.
    let errors = errors(set(ALPHA, "devices", strings(&["/virtio_mmio@a000000"])));
    let reason = expect_only(&errors, BETA, "devices");
    assert!(reason.contains("page"), "{reason}");
}

#[test]
fn device_owned_by_bulkhead() {
    for path in [
        "/intc@8000000",
        "/intc@8000000/its@8080000",
        "/smmuv3@9050000",
        "/cpus/cpu@0",
        "/memory@40000000",
    ] {
        let errors = errors(set(ALPHA, "devices", strings(&[path])));
        expect_only(&errors, ALPHA, "devices");
    }
}

#[test]
fn devices_not_strings() {
    expect_only(
        &errors(set(ALPHA, "devices", vec![b'/', 0xff, 0])),
        ALPHA,
        "devices",
    );
}

#[test]
fn device_by_alias_and_interrupts() {
    let dtb = edited_dtb(set(
        ALPHA,
        "devices",
        strings(&["serial0", "/pmu", "/pl031@9010000"]),
    ));
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let devices = &layout.partitions[0].devices;
    assert_eq!(devices[0].path, "/pl011@9000000");
    assert_eq!(devices[1].interrupts, [16 + 7]);
    assert_eq!(devices[2].interrupts, [32 + 2]);
}

#[test]
fn interrupts_extended_and_foreign_parent() {
    let dtb = edited_dtb(|tree| {
        tree.at("/pl061@9030000")
            .set("#interrupt-cells", cells(&[2]));
        let uart = tree.at("/pl011@9000000");
        uart.remove("interrupts");
        // One to the GIC, one to the GPIO controller (not decoded).
        uart.set(
            "interrupts-extended",
            cells(&[0x8005, 0, 5, 4, 0x8008, 1, 2]),
        );
    });
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(layout.partitions[0].devices[0].interrupts, [37]);
}

#[test]
fn bad_interrupt_specifier() {
    let errors = errors(set("/pl011@9000000", "interrupts", cells(&[2, 5, 4])));
    expect_only(&errors, "/pl011@9000000", "interrupts");
}

#[test]
fn device_under_simple_bus_is_translated() {
    let dtb = edited_dtb(|tree| {
        tree.at("/platform-bus@c000000").children.push(
            TestNode::new("dev@1000")
                .cells("reg", &[0x1000, 0x1000])
                .cells("interrupts", &[0, 0x70, 4]),
        );
        tree.at(ALPHA).set(
            "devices",
            strings(&["/pl011@9000000", "/platform-bus@c000000/dev@1000"]),
        );
    });
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let device = &layout.partitions[0].devices[1];
    assert_eq!(device.regs, [PhysRange::new(0x0c00_1000, 0x1000)]);
    assert_eq!(device.interrupts, [32 + 0x70]);
}

#[test]
fn kernel_missing() {
    expect_only(&errors(remove(ALPHA, "kernel")), ALPHA, "kernel");
}

#[test]
fn kernel_not_four_cells() {
    expect_only(
        &errors(set(ALPHA, "kernel", cells(&[0x4c00_0000, 0x10_0000]))),
        ALPHA,
        "kernel",
    );
}

#[test]
fn kernel_zero_size() {
    expect_only(
        &errors(set(ALPHA, "kernel", pair(0x4c00_0000, 0))),
        ALPHA,
        "kernel",
    );
}

#[test]
fn kernel_outside_ram() {
    expect_only(
        &errors(set(ALPHA, "kernel", pair(0x2_0000_0000, 0x1000))),
        ALPHA,
        "kernel",
    );
}

#[test]
fn kernel_overlaps_partition_memory() {
    let reason = expect_only(
        &errors(set(ALPHA, "kernel", pair(0x6000_0000, 0x1000))),
        ALPHA,
        "kernel",
    );
    assert!(reason.contains("partition@1 (beta)"), "{reason}");
}

#[test]
fn kernel_overlaps_hypervisor() {
    let reason = expect_only(
        &errors(set(ALPHA, "kernel", pair(0x4000_0000, 0x1000))),
        ALPHA,
        "kernel",
    );
    assert!(reason.contains("hypervisor"), "{reason}");
}

#[test]
fn kernel_does_not_fit_at_default_load_address() {
    // 272 MiB at the default load address 0x40000000 in a 256 MiB region.
    expect_only(
        &errors(set(ALPHA, "kernel", pair(0x8000_0000, 0x1100_0000))),
        ALPHA,
        "kernel",
    );
}

#[test]
fn kernel_does_not_fit_at_explicit_load_address() {
    // beta's second region is 16 MiB at IPA 0x50000000; 2 MiB at its last MiB spills over.
    let errors = errors(set(BETA, "load-address", cells(&[0, 0x50f0_0000])));
    expect_only(&errors, BETA, "load-address");
}

#[test]
fn load_address_not_two_cells() {
    expect_only(
        &errors(set(BETA, "load-address", cells(&[0x4008_0000]))),
        BETA,
        "load-address",
    );
}

#[test]
fn several_errors_are_all_reported() {
    let errors = errors(|tree| {
        tree.at(LAYOUT)
            .set("compatible", strings(&["bulkhead,layout-v9"]));
        tree.at(ALPHA).remove("label");
        tree.at(ALPHA).set("cpus", cells(&[9]));
        tree.at(BETA)
            .set("memory", memory(&[(0x5000_0000, 0x4000_0000, 0x10_0000)]));
        tree.at(BETA).set("kernel", pair(0x4000_1000, 0x1000));
    });
    expect_error(&errors, LAYOUT, "compatible");
    expect_error(&errors, ALPHA, "label");
    expect_error(&errors, ALPHA, "cpus");
    expect_error(&errors, BETA, "memory");
    expect_error(&errors, BETA, "kernel");
    assert_eq!(errors.len(), 5, "{errors:#?}");
}

#[test]
fn malformed_blob_is_one_error() {
    let mut dtb = edited_dtb(|_| {});
    let board = parse_board(&dtb).expect("board");
    dtb.truncate(dtb.len() / 2);
    let errors = parse_layout(&dtb, &board, RESERVED, HYPERVISOR).expect_err("truncated");
    expect_only(&errors, "/", "dtb");
}
