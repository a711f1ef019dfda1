//! Layout additions for Linux guests: `initrd`, `bootargs`, PCIe windows and INTx, boot placement.

mod support;

use bulkhead_core::boot_image::{parse_image_header, placement, DTB_AREA};
use bulkhead_core::config::{Ipa, LayoutError, Module, PhysAddr, PhysRange};
use support::*;

/// The only error is for this node and property; returns its reason.
fn expect_only(errors: &[LayoutError], node: &str, property: &str) -> String {
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let error = &errors[0];
    assert_eq!(
        (error.node.as_str(), error.property.as_str()),
        (node, property),
        "{errors:#?}"
    );
    error.reason.clone()
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    cells(&[(a >> 32) as u32, a as u32, (b >> 32) as u32, b as u32])
}

fn set(path: &'static str, property: &'static str, value: Vec<u8>) -> impl Fn(&mut TestNode) {
    move |tree| tree.at(path).set(property, value.clone())
}

/// alpha with an initrd of 1 MiB at PA 0x4d00_0000.
fn with_initrd(tree: &mut TestNode) {
    tree.at(ALPHA).set("initrd", pair(0x4d00_0000, 0x10_0000));
}

#[test]
fn initrd_and_bootargs_are_read() {
    let layout = accepted(|tree| {
        with_initrd(tree);
        tree.at(ALPHA)
            .set("bootargs", strings(&["console=ttyAMA0 rdinit=/init"]));
    });
    let alpha = &layout.partitions[0];
    assert_eq!(
        alpha.initrd,
        Some(Module {
            pa: PhysAddr(0x4d00_0000),
            size: 0x10_0000
        })
    );
    assert_eq!(
        alpha.bootargs.as_deref(),
        Some("console=ttyAMA0 rdinit=/init")
    );
    let beta = &layout.partitions[1];
    assert_eq!((beta.initrd, beta.bootargs.as_deref()), (None, None));
}

#[test]
fn initrd_not_four_cells() {
    let errors = errors(set(ALPHA, "initrd", cells(&[0, 0x4d00_0000, 0x1000])));
    let reason = expect_only(&errors, ALPHA, "initrd");
    assert!(reason.contains("must be 4"), "{reason}");
}

#[test]
fn initrd_zero_size() {
    let errors = errors(set(ALPHA, "initrd", pair(0x4d00_0000, 0)));
    assert!(expect_only(&errors, ALPHA, "initrd").contains("zero size"));
}

#[test]
fn initrd_outside_ram() {
    let errors = errors(set(ALPHA, "initrd", pair(0x2000_0000, 0x1000)));
    assert!(expect_only(&errors, ALPHA, "initrd").contains("RAM"));
}

#[test]
fn initrd_overlaps_hypervisor() {
    let errors = errors(set(ALPHA, "initrd", pair(0x43ff_f000, 0x2000)));
    assert!(expect_only(&errors, ALPHA, "initrd").contains("hypervisor"));
}

#[test]
fn initrd_overlaps_partition_memory() {
    let errors = errors(set(ALPHA, "initrd", pair(0x6000_0000, 0x1000)));
    let reason = expect_only(&errors, ALPHA, "initrd");
    assert!(reason.contains("memory of partition@1 (beta)"), "{reason}");
}

#[test]
fn initrd_overlaps_own_kernel() {
    let errors = errors(set(ALPHA, "initrd", pair(0x4c0f_f000, 0x1000)));
    let reason = expect_only(&errors, ALPHA, "initrd");
    assert!(
        reason.contains("kernel module 0x4c000000+0x100000 of this partition"),
        "{reason}"
    );
}

#[test]
fn initrd_overlaps_other_kernel() {
    let errors = errors(set(ALPHA, "initrd", pair(0x4c10_0000, 0x1000)));
    let reason = expect_only(&errors, ALPHA, "initrd");
    assert!(reason.contains("of partition@1 (beta)"), "{reason}");
}

#[test]
fn overlapping_initrds_reported_once() {
    let errors = errors(|tree| {
        with_initrd(tree);
        tree.at(BETA).set("initrd", pair(0x4d08_0000, 0x10_0000));
    });
    let reason = expect_only(&errors, BETA, "initrd");
    assert!(
        reason.contains("initrd module 0x4d000000+0x100000 of partition@0 (alpha)"),
        "{reason}"
    );
}

#[test]
fn identical_initrd_may_be_shared() {
    let layout = accepted(|tree| {
        with_initrd(tree);
        tree.at(BETA).set("initrd", pair(0x4d00_0000, 0x10_0000));
    });
    assert_eq!(layout.partitions[0].initrd, layout.partitions[1].initrd);
}

#[test]
fn bootargs_not_a_string() {
    let errors = errors(set(ALPHA, "bootargs", cells(&[1, 2])));
    assert!(expect_only(&errors, ALPHA, "bootargs").contains("UTF-8 string"));
}

#[test]
fn initrd_too_big_for_the_first_region() {
    // 255 MiB do not fit below alpha's DT area at all.
    let refused = errors(set(ALPHA, "initrd", pair(0x8000_0000, 0x0ff0_0000)));
    let reason = expect_only(&refused, ALPHA, "initrd");
    assert!(reason.contains("does not fit below"), "{reason}");
    // 253.5 MiB fit, but run into alpha's 1 MiB kernel at the region's start.
    let errors = errors(set(ALPHA, "initrd", pair(0x8000_0000, 0x0fd8_0000)));
    let reason = expect_only(&errors, ALPHA, "initrd");
    assert!(reason.contains("overlaps the kernel"), "{reason}");
}

#[test]
fn kernel_over_the_dtb_area_is_refused() {
    // Beta's kernel at 0x4008_0000 with 254 MiB reaches its DT area (the last 2 MiB).
    let errors = errors(set(BETA, "kernel", pair(0x8000_0000, 0x0fe0_0000)));
    let reason = expect_only(&errors, BETA, "kernel");
    assert!(reason.contains("guest device tree area"), "{reason}");
}

#[test]
fn pcie_host_regs_include_windows_and_intx() {
    let layout = accepted(|tree| {
        tree.at(ALPHA)
            .set("devices", strings(&["/pl011@9000000", "/pcie@10000000"]));
    });
    let alpha = &layout.partitions[0];
    assert_eq!(alpha.devices[0].interrupts, [33], "PL011 SPI 1");
    let pcie = &alpha.devices[1];
    assert_eq!(pcie.path, "/pcie@10000000");
    assert_eq!(
        pcie.regs,
        [
            PhysRange::new(0x40_1000_0000, 0x1000_0000), // ECAM
            PhysRange::new(0x3eff_0000, 0x1_0000),       // I/O window
            PhysRange::new(0x1000_0000, 0x2eff_0000),    // 32-bit memory window
        ]
    );
    // The 64-bit window (512 GiB at 512 GiB) lies beyond the 39-bit IPA space.
    assert!(!alpha.owns_mmio(PhysAddr(0x80_0000_0000), 0x1000));
    // INTx: SPIs 3..6, in first-seen order of the map.
    assert_eq!(pcie.interrupts, [35, 36, 37, 38]);
    assert!(alpha.owns_mmio(PhysAddr(0x1000_0000), 0x1000));
}

#[test]
fn pcie_intx_clash_with_another_device() {
    // A second device on SPI 5 (INTID 37) in the other partition.
    let errors = errors(|tree| {
        tree.at(ALPHA)
            .set("devices", strings(&["/pl011@9000000", "/pcie@10000000"]));
        tree.at("/pl011@9040000")
            .set("interrupts", cells(&[0, 5, 4]));
    });
    let reason = expect_only(&errors, BETA, "devices");
    assert!(reason.contains("interrupt 0x25"), "{reason}");
}

#[test]
fn malformed_interrupt_map_is_an_error() {
    let errors = errors(|tree| {
        tree.at(ALPHA).set("devices", strings(&["/pcie@10000000"]));
        tree.at("/pcie@10000000")
            .set("interrupt-map", cells(&[0, 0, 0, 1, 0x8005, 0, 0]));
    });
    let error = errors
        .iter()
        .find(|e| e.property == "interrupt-map")
        .unwrap_or_else(|| panic!("{errors:#?}"));
    assert_eq!(error.node, "/pcie@10000000");
}

#[test]
fn placement_with_a_real_header() {
    let layout = accepted(|tree| {
        with_initrd(tree);
        // A 14 MiB Image, header image_size 40 MiB.
        tree.at(ALPHA).set("kernel", pair(0x4a00_0000, 0xe0_0000));
    });
    let alpha = &layout.partitions[0];
    let mut image = vec![0u8; 0x40];
    image[0x10..0x18].copy_from_slice(&0x280_0000u64.to_le_bytes());
    image[0x18..0x20].copy_from_slice(&0xau64.to_le_bytes());
    image[0x38..0x3c].copy_from_slice(b"ARM\x64");
    let header = parse_image_header(&image).expect("header");
    let placed = placement(alpha, Some(&header), 0x4000).expect("fits");
    assert_eq!(placed.kernel, Ipa(0x4000_0000));
    assert_eq!(placed.dtb, Ipa(0x4fe0_0000));
    assert_eq!(placed.initrd, Some(Ipa(0x4fe0_0000 - 0x10_0000)));
    assert!(placement(alpha, Some(&header), DTB_AREA + 1).is_err());
}
