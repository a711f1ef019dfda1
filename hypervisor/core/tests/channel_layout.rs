//! Channel binding: `channel@<id>` nodes accepted with two and three endpoints, and each refusal.

mod support;

use bulkhead_core::config::dt::DeviceTree;
use bulkhead_core::config::virtual_pci::{
    channel_doorbell_intid, channel_intx_intid, CONTROL_INTID, MAX_CHANNELS_PER_PARTITION,
};
use bulkhead_core::config::{
    Channel, ChannelEndpointConfig, Ipa, Layout, LayoutError, PartitionChannel, PhysAddr,
};
use bulkhead_core::guest_dt::{build, GuestDtOptions};
use support::*;

const GAMMA: &str = "/chosen/bulkhead/partition@2";
const CH0: &str = "/chosen/bulkhead/channel@0";
const CH1: &str = "/chosen/bulkhead/channel@1";
/// Channel 0: 64 KiB between alpha (read-write) and beta (read-only).
const CH0_PA: u64 = 0x9000_0000;
const CH0_SIZE: u64 = 0x1_0000;
const CH0_IPA: u64 = 0x6000_0000;
/// Channel 1: 2 MiB between gamma, alpha and beta, in that endpoint order.
const CH1_PA: u64 = 0x9020_0000;
const CH1_SIZE: u64 = 0x20_0000;
const CH1_IPAS: [u64; 3] = [0x8000_0000, 0x6020_0000, 0x6040_0000];

fn channel(id: u32, pa: u64, size: u64, endpoints: &[u32], ipas: &[u64]) -> TestNode {
    TestNode::new(&format!("channel@{id:x}"))
        .cells("reg", &[id])
        .raw("memory", wide(&[pa, size]))
        .cells("endpoints", endpoints)
        .raw("endpoint-ipa", wide(ipas))
}

/// The good layout plus gamma (CPU 2, taken from beta; 16 MiB) and the
/// two channels, channel 1 written first.
fn with_channels(tree: &mut TestNode) {
    tree.at(BETA).set("cpus", cells(&[3]));
    let gamma = TestNode::new("partition@2")
        .cells("reg", &[2])
        .string("label", "gamma")
        .cells("cpus", &[2])
        .raw("memory", wide(&[0x8000_0000, 0x4000_0000, 0x100_0000]))
        .cells("kernel", &[0, 0x4c30_0000, 0, 0x10_0000]);
    let first = channel(0, CH0_PA, CH0_SIZE, &[0, 1], &[CH0_IPA, CH0_IPA])
        .string("label", "results")
        .cells("read-only", &[1]);
    let second = channel(1, CH1_PA, CH1_SIZE, &[2, 0, 1], &CH1_IPAS);
    let layout = tree.at(LAYOUT);
    layout.children.push(gamma);
    layout.children.push(second);
    layout.children.push(first);
}

/// The layout after `with_channels` then `edit`; fails if it is refused.
fn channel_layout(edit: impl FnOnce(&mut TestNode)) -> Layout {
    accepted(both(with_channels, edit))
}

/// The errors after `with_channels` then `edit`; fails if the layout is accepted.
fn refusals(edit: impl FnOnce(&mut TestNode)) -> Vec<LayoutError> {
    errors(both(with_channels, edit))
}

/// Each `(case, node, value, fragment)`: `property` of `node` set to `value`
/// is refused with one error, on that property, with `fragment` in its reason.
fn each_refused_alone<const N: usize>(
    property: &'static str,
    cases: [(&str, &'static str, Vec<u8>, &str); N],
) {
    for (case, node, value, fragment) in cases {
        let errors = refusals(set(node, property, value));
        assert_eq!(
            errors.len(),
            1,
            "{case}: expected one error, got {errors:#?}"
        );
        expect_reason(&errors, node, property, fragment);
    }
}

fn endpoint(partition: u32, ipa: u64, read_only: bool) -> ChannelEndpointConfig {
    ChannelEndpointConfig {
        partition,
        ipa: Ipa(ipa),
        read_only,
    }
}

#[test]
fn two_and_three_endpoints() {
    let layout = channel_layout(|_| {});
    assert_eq!(
        layout.channels,
        [
            Channel {
                id: 0,
                label: "results".into(),
                node: CH0.into(),
                pa: PhysAddr(CH0_PA),
                size: CH0_SIZE,
                endpoints: vec![endpoint(0, CH0_IPA, false), endpoint(1, CH0_IPA, true)],
            },
            Channel {
                id: 1,
                label: "channel1".into(),
                node: CH1.into(),
                pa: PhysAddr(CH1_PA),
                size: CH1_SIZE,
                endpoints: vec![
                    endpoint(2, CH1_IPAS[0], false),
                    endpoint(0, CH1_IPAS[1], false),
                    endpoint(1, CH1_IPAS[2], false),
                ],
            },
        ]
    );
    let view = |id: u32, slot, index, ipa, read_only, peers: &[u32]| {
        let (label, pa, size) = match id {
            0 => ("results", CH0_PA, CH0_SIZE),
            _ => ("channel1", CH1_PA, CH1_SIZE),
        };
        PartitionChannel {
            id,
            label: label.into(),
            slot,
            index,
            pa: PhysAddr(pa),
            ipa: Ipa(ipa),
            size,
            read_only,
            peers: peers.to_vec(),
        }
    };
    let [alpha, beta, gamma] = &layout.partitions[..] else {
        panic!("three partitions expected: {layout:#?}");
    };
    assert_eq!(
        alpha.channels,
        [
            view(0, 0, 0, CH0_IPA, false, &[0, 1]),
            view(1, 1, 1, CH1_IPAS[1], false, &[2, 0, 1]),
        ]
    );
    assert_eq!(
        beta.channels,
        [
            view(0, 0, 1, CH0_IPA, true, &[0, 1]),
            view(1, 1, 2, CH1_IPAS[2], false, &[2, 0, 1]),
        ]
    );
    assert_eq!(
        gamma.channels,
        [view(1, 0, 0, CH1_IPAS[0], false, &[2, 0, 1])]
    );
    assert!(alpha.has_virtual_pci() && gamma.has_virtual_pci());
    let spis: Vec<u32> = alpha.virtual_spis().collect();
    assert_eq!(
        spis,
        [
            channel_doorbell_intid(0),
            channel_intx_intid(0),
            channel_doorbell_intid(1),
            channel_intx_intid(1),
        ]
    );
    assert_eq!(spis, [961, 962, 963, 964]);
    // gamma owns no UART: its virtual console's SPI comes last.
    assert_eq!(gamma.virtual_spis().collect::<Vec<_>>(), [961, 962, 993]);
    // Virtual SPIs are not physical interrupts of the partition.
    assert!(alpha.interrupts().all(|intid| intid < 960));
}

#[test]
fn a_manager_has_the_control_spi_first() {
    let layout = channel_layout(|tree| {
        tree.at(GAMMA).set("manages", cells(&[0]));
    });
    let gamma = &layout.partitions[2];
    assert_eq!(
        gamma.virtual_spis().collect::<Vec<_>>(),
        [CONTROL_INTID, 961, 962, 993]
    );
}

#[test]
fn no_channels_no_virtual_bus() {
    let layout = accepted(|_| {});
    assert!(layout.channels.is_empty());
    for partition in &layout.partitions {
        assert!(partition.channels.is_empty());
        assert!(!partition.has_virtual_pci());
        assert_eq!(partition.virtual_spis().count(), 0);
    }
}

#[test]
fn validated_layout_to_guest_dt() {
    let dtb = edited_dtb(with_channels);
    let layout = parse(&dtb).unwrap_or_else(|e| panic!("{e:#?}"));
    let guest = build(&dtb, &layout.partitions[1], &GuestDtOptions::default()).expect("guest DT");
    let tree = DeviceTree::parse(&guest).expect("guest DT parses");
    let node = tree.find("/chosen/bulkhead/channel@0").expect("channel@0");
    let cells_of = |name: &str| node.property(name).and_then(|p| p.as_cells());
    assert_eq!(cells_of("reg"), Some(vec![0]));
    assert_eq!(
        cells_of("memory"),
        Some(vec![0, CH0_IPA as u32, 0, CH0_SIZE as u32])
    );
    assert_eq!(cells_of("endpoint"), Some(vec![1]));
    assert_eq!(cells_of("endpoints"), Some(vec![2]));
    assert_eq!(cells_of("interrupts"), Some(vec![0, 961 - 32, 1]));
    assert!(node.property("read-only").is_some());
    assert!(tree.find("/pcie@3f000000").is_some());
}

#[test]
fn display_names_the_channel_node() {
    let errors = refusals(set(CH0, "memory", wide(&[CH0_PA, 0])));
    assert_eq!(
        errors[0].to_string(),
        "layout error: /chosen/bulkhead/channel@0: memory: memory 0x90000000+0x0 has zero size"
    );
}

#[test]
fn every_problem_is_reported() {
    let errors = refusals(|tree| {
        let node = tree.at(CH0);
        node.set("label", strings(&["x".repeat(32).as_str()]));
        node.set("memory", wide(&[CH0_PA, 0x3000]));
        node.set("read-only", cells(&[0, 1]));
    });
    expect_reason(&errors, CH0, "label", "32 bytes long");
    expect_reason(&errors, CH0, "memory", "not a power of two");
    expect_reason(&errors, CH0, "read-only", "every endpoint is read-only");
}

// Required properties

#[test]
fn missing_properties() {
    // Without reg or endpoints other checks fail too; the others are reported alone.
    for (property, alone) in [
        ("reg", false),
        ("memory", true),
        ("endpoints", false),
        ("endpoint-ipa", true),
    ] {
        let errors = refusals(remove(CH0, property));
        if alone {
            assert_eq!(
                errors.len(),
                1,
                "{property}: expected one error, got {errors:#?}"
            );
        }
        expect_reason(&errors, CH0, property, "is missing");
    }
}

// reg and label

#[test]
fn reg_duplicate() {
    let errors = refusals(set(CH1, "reg", cells(&[0])));
    expect_only_reason(
        &errors,
        CH1,
        "reg",
        "channel id 0x0 is also used by channel@0 (results)",
    );
}

#[test]
fn label_of_31_bytes_is_accepted() {
    let label = "y".repeat(31);
    let layout = channel_layout(|tree| {
        tree.at(CH1).set("label", strings(&[label.as_str()]));
    });
    assert_eq!(layout.channels[1].label, label);
}

#[test]
fn label_refusals() {
    each_refused_alone(
        "label",
        [
            ("too long", CH1, strings(&[&"z".repeat(32)]), "at most 31"),
            ("empty", CH1, strings(&[""]), "is empty"),
        ],
    );
}

// memory

#[test]
fn memory_refusals() {
    each_refused_alone(
        "memory",
        [
            (
                "wrong cell count",
                CH0,
                cells(&[0, 0x9000_0000, 0x1000]),
                "must be 4",
            ),
            ("zero size", CH0, wide(&[CH0_PA, 0]), "zero size"),
            (
                "size not a power of two",
                CH0,
                wide(&[CH0_PA, 0x3000]),
                "not a power of two of at least 4 KiB",
            ),
            (
                "smaller than a page",
                CH0,
                wide(&[CH0_PA, 0x800]),
                "not a power of two of at least 4 KiB",
            ),
            (
                "PA unaligned",
                CH0,
                wide(&[CH0_PA + 0x800, 0x1000]),
                "PA 0x90000800 is not 4 KiB aligned",
            ),
            (
                "outside RAM",
                CH0,
                wide(&[0x1_0000_0000, CH0_SIZE]),
                "does not lie inside one RAM range",
            ),
            (
                "over partition RAM",
                CH0,
                wide(&[0x5000_0000, CH0_SIZE]),
                "overlaps the memory of partition@0 (alpha), at its region 0x50000000+0x10000000",
            ),
            (
                "over another channel",
                CH1,
                wide(&[CH0_PA, CH1_SIZE]),
                "overlaps the memory 0x90000000+0x10000 of channel@0 (results)",
            ),
        ],
    );
}

#[test]
fn memory_over_a_checkpoint_store() {
    let errors = refusals(|tree| {
        tree.at(GAMMA)
            .children
            .push(TestNode::new("checkpoint").raw("store", wide(&[0xa000_0000, 0x0300_0000])));
        tree.at(CH0).set("memory", wide(&[0xa100_0000, CH0_SIZE]));
    });
    expect_only_reason(
        &errors,
        CH0,
        "memory",
        "overlaps the checkpoint store 0xa0000000+0x3000000 of partition@2 (gamma)",
    );
}

#[test]
fn memory_over_an_initrd() {
    let errors = refusals(|tree| {
        tree.at(GAMMA)
            .set("initrd", wide(&[0xb000_0000, 0x10_0000]));
        tree.at(CH0).set("memory", wide(&[0xb000_0000, CH0_SIZE]));
    });
    expect_only_reason(
        &errors,
        CH0,
        "memory",
        "overlaps the initrd module 0xb0000000+0x100000 of partition@2 (gamma)",
    );
}

#[test]
fn memory_over_a_kernel() {
    // Kernels lie in Bulkhead's reserved area, which is refused too.
    let errors = refusals(set(CH0, "memory", wide(&[0x4c00_0000, CH0_SIZE])));
    expect_reason(
        &errors,
        CH0,
        "memory",
        "overlaps the kernel module 0x4c000000+0x100000 of partition@0 (alpha)",
    );
    expect_reason(&errors, CH0, "memory", "overlaps Bulkhead's reserved area");
}

#[test]
fn memory_over_device_mmio() {
    let errors = refusals(set(CH0, "memory", wide(&[0x0900_0000, 0x1000])));
    expect_reason(&errors, CH0, "memory", "overlaps MMIO of /pl011@9000000");
}

// endpoints

#[test]
fn endpoints_fewer_than_two() {
    let errors = refusals(|tree| {
        let node = tree.at(CH0);
        node.set("endpoints", cells(&[0]));
        node.set("endpoint-ipa", wide(&[CH0_IPA]));
        node.remove("read-only");
    });
    expect_only_reason(&errors, CH0, "endpoints", "at least two partitions");
}

#[test]
fn endpoints_unknown_partition() {
    let errors = refusals(set(CH0, "endpoints", cells(&[0, 7])));
    expect_reason(
        &errors,
        CH0,
        "endpoints",
        "partition id 0x7 is not in the layout",
    );
}

#[test]
fn endpoints_repeated() {
    let errors = refusals(|tree| {
        tree.at(CH0).set("endpoints", cells(&[0, 0]));
        tree.at(CH0).remove("read-only");
    });
    expect_only_reason(
        &errors,
        CH0,
        "endpoints",
        "partition id 0x0 is listed twice",
    );
}

#[test]
fn more_channels_than_slots() {
    let errors = refusals(|tree| {
        let layout = tree.at(LAYOUT);
        for id in 2..=MAX_CHANNELS_PER_PARTITION as u32 {
            let offset = u64::from(id) * 0x1000;
            layout.children.push(channel(
                id,
                0x9100_0000 + offset,
                0x1000,
                &[0, 1],
                &[0x6100_0000 + offset, 0x6100_0000 + offset],
            ));
        }
    });
    let last = format!("/chosen/bulkhead/channel@{MAX_CHANNELS_PER_PARTITION:x}");
    assert_eq!(errors.len(), 2, "{errors:#?}");
    for partition in ["partition@0 (alpha)", "partition@1 (beta)"] {
        expect_reason(
            &errors,
            &last,
            "endpoints",
            &format!("{partition} is already an endpoint of 16 channels"),
        );
    }
}

// endpoint-ipa

#[test]
fn endpoint_ipa_refusals() {
    each_refused_alone(
        "endpoint-ipa",
        [
            (
                "count",
                CH1,
                wide(&CH1_IPAS[..2]),
                "must be 0x6, one IPA (2 cells) per endpoint",
            ),
            (
                "not aligned to the size",
                CH1,
                wide(&[0x8010_0000, CH1_IPAS[1], CH1_IPAS[2]]),
                "endpoint 0 (partition 0x2): IPA 0x80100000 is not aligned to 0x200000",
            ),
            (
                "beyond the IPA space",
                CH0,
                wide(&[CH0_IPA, 1 << 39]),
                "outside the 39-bit IPA space",
            ),
            (
                "over its memory",
                CH0,
                wide(&[CH0_IPA, 0x5000_0000]),
                "endpoint 1 (partition@1 (beta)): IPA range 0x50000000+0x10000 overlaps the IPA range 0x50000000+0x1000000 of its memory region 0x70000000+0x1000000",
            ),
            (
                "over its device",
                CH0,
                wide(&[0x0900_0000, CH0_IPA]),
                "overlaps its device /pl011@9000000 (0x9000000+0x1000)",
            ),
            (
                "over the virtual ECAM",
                CH0,
                wide(&[CH0_IPA, 0x3f00_0000]),
                "overlaps the virtual PCI host's ECAM",
            ),
            (
                "over the virtual register window",
                CH0,
                wide(&[CH0_IPA, 0x3f10_0000]),
                "overlaps the virtual PCI functions' register window 0x3f100000+0x100000",
            ),
            (
                "over the GIC",
                CH0,
                wide(&[CH0_IPA, 0x0800_0000]),
                "overlaps the GIC distributor",
            ),
            (
                "over its other channel",
                CH1,
                wide(&[CH1_IPAS[0], CH0_IPA, CH1_IPAS[2]]),
                "endpoint 1 (partition@0 (alpha)): IPA range 0x60000000+0x200000 overlaps the IPA range 0x60000000+0x10000 where it sees channel@0 (results)",
            ),
        ],
    );
}

#[test]
fn endpoint_ipa_over_its_pci_functions_window() {
    let errors = refusals(|tree| {
        tree.at(ALPHA).set("pci-functions", strings(&["00:02.0"]));
        tree.at(CH0)
            .set("endpoint-ipa", wide(&[0x2000_0000, CH0_IPA]));
    });
    expect_only_reason(
        &errors,
        CH0,
        "endpoint-ipa",
        "overlaps /pcie@10000000's window 0x10000000+0x2eff0000",
    );
}

#[test]
fn one_ipa_in_two_partitions_is_fine() {
    // Each endpoint has its own IPA space: channel 0 is at the same IPA in both.
    let layout = channel_layout(|_| {});
    let ipas: Vec<Ipa> = layout.channels[0].endpoints.iter().map(|e| e.ipa).collect();
    assert_eq!(ipas, [Ipa(CH0_IPA), Ipa(CH0_IPA)]);
}

// read-only

#[test]
fn read_only_refusals() {
    each_refused_alone(
        "read-only",
        [
            (
                "not an endpoint",
                CH0,
                cells(&[2]),
                "partition id 0x2 is not an endpoint of this channel",
            ),
            (
                "every endpoint",
                CH0,
                cells(&[1, 0]),
                "every endpoint is read-only",
            ),
            ("empty", CH0, Vec::new(), "is empty"),
        ],
    );
}

// The partition's own virtual PCI bus

#[test]
fn pci_function_on_a_channel_slot() {
    // alpha's channels take slots 0 and 1: devices 30 (0x1e) and 29 (0x1d).
    let errors = refusals(|tree| {
        tree.at(ALPHA).set("pci-functions", strings(&["00:1d.0"]));
    });
    expect_only_reason(
        &errors,
        ALPHA,
        "pci-functions",
        "00:1d.0: device 0x1d on the virtual PCI bus is the endpoint function of channel@1 (channel1)",
    );
}

#[test]
fn pci_function_on_an_unused_channel_slot_is_fine() {
    // gamma has one channel (slot 0, device 30): device 29 is free.
    let layout = channel_layout(|tree| {
        tree.at(GAMMA).set("pci-functions", strings(&["00:1d.0"]));
    });
    assert_eq!(layout.partitions[2].pci_functions.len(), 1);
}

#[test]
fn pci_function_on_the_control_slot() {
    let errors = refusals(|tree| {
        tree.at(ALPHA).set("manages", cells(&[1]));
        tree.at(ALPHA).set("pci-functions", strings(&["00:1f.0"]));
    });
    expect_only_reason(
        &errors,
        ALPHA,
        "pci-functions",
        "00:1f.0: device 0x1f on the virtual PCI bus is the control function's",
    );
}

#[test]
fn pci_function_on_the_control_slot_without_manages_is_fine() {
    accepted(|tree| tree.at(ALPHA).set("pci-functions", strings(&["00:1f.0"])));
}

/// alpha's memory, with a second 1 MiB region at IPA `ipa`.
fn alpha_memory_with_region_at(ipa: u64) -> Vec<u8> {
    wide(&[
        0x5000_0000,
        0x4000_0000,
        0x0800_0000,
        0x5800_0000,
        ipa,
        0x0010_0000,
    ])
}

#[test]
fn channel_partition_memory_over_the_virtual_windows() {
    each_refused_alone(
        "memory",
        [
            (
                "over the virtual register window",
                ALPHA,
                alpha_memory_with_region_at(0x3f10_0000),
                "overlaps the virtual PCI functions' register window 0x3f100000+0x100000",
            ),
            (
                "over the virtual ECAM",
                ALPHA,
                alpha_memory_with_region_at(0x3f00_0000),
                "overlaps the virtual PCI host's ECAM",
            ),
        ],
    );
}

#[test]
fn managing_partition_memory_over_the_virtual_ecam() {
    let errors = errors(|tree| {
        tree.at(ALPHA).set("manages", cells(&[1]));
        tree.at(ALPHA)
            .set("memory", alpha_memory_with_region_at(0x3f00_0000));
    });
    expect_only_reason(
        &errors,
        ALPHA,
        "memory",
        "overlaps the virtual PCI host's ECAM",
    );
}

#[test]
fn memory_over_the_virtual_windows_without_a_virtual_bus_is_fine() {
    accepted(|tree| {
        tree.at(ALPHA)
            .set("memory", alpha_memory_with_region_at(0x3f00_0000))
    });
}

#[test]
fn channel_partition_device_on_a_virtual_spi() {
    let errors = refusals(|tree| {
        tree.at("/pl011@9000000")
            .set("interrupts", cells(&[0, 960 - 32 + 2, 4]));
    });
    expect_only_reason(
        &errors,
        ALPHA,
        "devices",
        "/pl011@9000000 uses interrupt 962, but INTIDs from 960 on are virtual SPIs",
    );
}

#[test]
fn device_on_a_high_spi_without_a_virtual_bus_is_fine() {
    accepted(|tree| {
        tree.at("/pl011@9000000")
            .set("interrupts", cells(&[0, 960 - 32 + 2, 4]));
    });
}

#[test]
fn unknown_layout_child_names_both_kinds() {
    let errors = refusals(|tree| tree.at(LAYOUT).children.push(TestNode::new("chanel@5")));
    expect_only_reason(
        &errors,
        "/chosen/bulkhead/chanel@5",
        "name",
        "expected partition@<id> or channel@<id>",
    );
}
