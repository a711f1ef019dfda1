//! Host tests: guest DTs for a two-partition layout over a QEMU-virt-like board.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fdt::Fdt;
use vm_fdt::FdtWriter;

use super::*;
use crate::address::{Ipa, PhysAddr};
use crate::config::virtual_pci::{channel_device, CONTROL_DEVICE, VIRTUAL_MMIO};
use crate::config::{Device, MemoryRegion, Module, Partition, PartitionChannel, PciFunction};
use crate::pci::FunctionAddress;

const GIC_PHANDLE: u32 = 0x8005;
const CLOCK_PHANDLE: u32 = 0x8000;

/// A small board modelled on QEMU virt's DTB.
fn board_dtb() -> Vec<u8> {
    let mut w = FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    w.property_u32("interrupt-parent", GIC_PHANDLE).unwrap();
    w.property_string("model", "linux,dummy-virt").unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_string("compatible", "linux,dummy-virt").unwrap();

    let psci = w.begin_node("psci").unwrap();
    w.property_string("method", "smc").unwrap();
    w.property("compatible", b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0")
        .unwrap();
    w.end_node(psci).unwrap();

    let memory = w.begin_node("memory@40000000").unwrap();
    w.property_array_u64("reg", &[0x4000_0000, 0x8000_0000])
        .unwrap();
    w.property_string("device_type", "memory").unwrap();
    w.end_node(memory).unwrap();

    let bus = w.begin_node("platform-bus@c000000").unwrap();
    w.property_u32("interrupt-parent", GIC_PHANDLE).unwrap();
    w.property_array_u32("ranges", &[0, 0, 0x0c00_0000, 0x0200_0000])
        .unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 1).unwrap();
    w.property("compatible", b"qemu,platform\0simple-bus\0")
        .unwrap();
    let widget = w.begin_node("widget@1000").unwrap();
    w.property_array_u32("reg", &[0x1000, 0x100]).unwrap();
    w.property_string("compatible", "acme,widget").unwrap();
    w.end_node(widget).unwrap();
    let other = w.begin_node("widget@2000").unwrap();
    w.property_array_u32("reg", &[0x2000, 0x100]).unwrap();
    w.property_string("compatible", "acme,widget").unwrap();
    w.end_node(other).unwrap();
    w.end_node(bus).unwrap();

    for (address, spi) in [(0x0900_0000u64, 1u32), (0x0904_0000, 8)] {
        let uart = w.begin_node(&format!("pl011@{address:x}")).unwrap();
        w.property("clock-names", b"uartclk\0apb_pclk\0").unwrap();
        w.property_array_u32("clocks", &[CLOCK_PHANDLE, CLOCK_PHANDLE])
            .unwrap();
        w.property_array_u32("interrupts", &[0, spi, 4]).unwrap();
        w.property_array_u64("reg", &[address, 0x1000]).unwrap();
        w.property("compatible", b"arm,pl011\0arm,primecell\0")
            .unwrap();
        w.end_node(uart).unwrap();
    }

    // A PCIe host whose INTx map names the GIC without unit address cells
    // (this GIC has no #address-cells), and ITS/SMMU references.
    let pcie = w.begin_node("pcie@10000000").unwrap();
    w.property_array_u32("iommu-map", &[0, 0x8007, 0, 0x10000])
        .unwrap();
    w.property_array_u32("msi-map", &[0, 0x8006, 0, 0x10000])
        .unwrap();
    w.property_array_u32("interrupt-map-mask", &[0x1800, 0, 0, 7])
        .unwrap();
    let mut map = Vec::new();
    for pin in 1..=4u32 {
        map.extend_from_slice(&[0, 0, 0, pin, GIC_PHANDLE, 0, 2 + pin, 4]);
    }
    w.property_array_u32("interrupt-map", &map).unwrap();
    w.property_u32("#interrupt-cells", 1).unwrap();
    w.property_array_u32(
        "ranges",
        &[0x0200_0000, 0, 0x1000_0000, 0, 0x1000_0000, 0, 0x2eff_0000],
    )
    .unwrap();
    w.property_array_u64("reg", &[0x40_1000_0000, 0x1000_0000])
        .unwrap();
    w.property_u32("#size-cells", 2).unwrap();
    w.property_u32("#address-cells", 3).unwrap();
    w.property_string("device_type", "pci").unwrap();
    w.property_string("compatible", "pci-host-ecam-generic")
        .unwrap();
    w.end_node(pcie).unwrap();

    let gic = w.begin_node("intc@8000000").unwrap();
    w.property_phandle(GIC_PHANDLE).unwrap();
    w.property_array_u64("reg", &[0x0800_0000, 0x1_0000, 0x080a_0000, 0xf6_0000])
        .unwrap();
    w.property_string("compatible", "arm,gic-v3").unwrap();
    w.property_null("interrupt-controller").unwrap();
    w.property_u32("#interrupt-cells", 3).unwrap();
    w.end_node(gic).unwrap();

    let cpus = w.begin_node("cpus").unwrap();
    w.property_u32("#size-cells", 0).unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    let cpu_map = w.begin_node("cpu-map").unwrap();
    w.end_node(cpu_map).unwrap();
    for index in 0..4u32 {
        let cpu = w.begin_node(&format!("cpu@{index}")).unwrap();
        w.property_phandle(0x8004 - index).unwrap();
        w.property_u32("reg", index).unwrap();
        w.property_string("enable-method", "psci").unwrap();
        // A big.LITTLE-style board: the last core differs.
        let compatible = if index == 3 {
            "arm,cortex-a53"
        } else {
            "arm,cortex-a72"
        };
        w.property_string("compatible", compatible).unwrap();
        w.property_string("device_type", "cpu").unwrap();
        w.end_node(cpu).unwrap();
    }
    w.end_node(cpus).unwrap();

    let timer = w.begin_node("timer").unwrap();
    w.property_array_u32("interrupts", &[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4])
        .unwrap();
    w.property_null("always-on").unwrap();
    w.property("compatible", b"arm,armv8-timer\0arm,armv7-timer\0")
        .unwrap();
    w.end_node(timer).unwrap();

    let clock = w.begin_node("apb-pclk").unwrap();
    w.property_phandle(CLOCK_PHANDLE).unwrap();
    w.property_string("clock-output-names", "clk24mhz").unwrap();
    w.property_u32("clock-frequency", 24_000_000).unwrap();
    w.property_u32("#clock-cells", 0).unwrap();
    w.property_string("compatible", "fixed-clock").unwrap();
    w.end_node(clock).unwrap();

    let aliases = w.begin_node("aliases").unwrap();
    w.property_string("serial0", "/pl011@9000000").unwrap();
    w.property_string("serial1", "/pl011@9040000").unwrap();
    w.end_node(aliases).unwrap();

    let chosen = w.begin_node("chosen").unwrap();
    w.property_string("stdout-path", "/pl011@9000000").unwrap();
    w.end_node(chosen).unwrap();

    w.end_node(root).unwrap();
    w.finish().unwrap()
}

fn device(path: &str) -> Device {
    Device {
        path: String::from(path),
        regs: Vec::new(),
        interrupts: Vec::new(),
        dma_capable: false,
    }
}

fn partition(
    id: u32,
    cpus: Vec<usize>,
    memory: Vec<MemoryRegion>,
    devices: Vec<Device>,
) -> Partition {
    Partition {
        id,
        label: format!("p{id}"),
        node: format!("/chosen/bulkhead/partition@{id}"),
        cpus,
        memory,
        devices,
        kernel: Module {
            pa: PhysAddr(0x4800_0000),
            size: 0x1000,
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
    }
}

fn region(pa: u64, ipa: u64, size: u64) -> MemoryRegion {
    MemoryRegion {
        pa: PhysAddr(pa),
        ipa: Ipa(ipa),
        size,
    }
}

/// Partition 0: two CPUs, two memory regions, the first UART.
fn first() -> Partition {
    partition(
        0,
        vec![0, 1],
        vec![
            region(0x6000_0000, 0x4800_0000, 0x100_0000),
            region(0x5000_0000, 0x4000_0000, 0x800_0000),
        ],
        vec![device("/pl011@9000000")],
    )
}

/// Partition 1: one CPU (the differing one), the second UART and a bus child.
fn second() -> Partition {
    partition(
        1,
        vec![3],
        vec![region(0x7000_0000, 0x4000_0000, 0x1000_0000)],
        vec![
            device("/platform-bus@c000000/widget@1000"),
            device("/pl011@9040000"),
        ],
    )
}

fn cells(fdt: &Fdt<'_>, path: &str, property: &str) -> Vec<u32> {
    let value = fdt
        .find_node(path)
        .unwrap()
        .property(property)
        .unwrap()
        .value;
    value
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
        .collect()
}

fn string(fdt: &Fdt<'_>, path: &str, property: &str) -> String {
    let node = fdt.find_node(path).unwrap();
    String::from(node.property(property).unwrap().as_str().unwrap())
}

fn child_names(fdt: &Fdt<'_>, path: &str) -> Vec<String> {
    fdt.find_node(path)
        .unwrap()
        .children()
        .map(|c| String::from(c.name))
        .collect()
}

#[test]
fn first_partition_guest_dt() {
    let board = board_dtb();
    let options = GuestDtOptions {
        bootargs: Some("console=ttyAMA0 earlycon"),
        ..Default::default()
    };
    let dtb = build(&board, &first(), &options).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();

    assert_eq!(string(&fdt, "/", "compatible"), "linux,dummy-virt");
    assert_eq!(string(&fdt, "/", "model"), "linux,dummy-virt");
    assert_eq!(cells(&fdt, "/", "#address-cells"), [2]);
    assert_eq!(cells(&fdt, "/", "#size-cells"), [2]);
    // The guest GIC keeps the board GIC's phandle.
    assert_eq!(cells(&fdt, "/", "interrupt-parent"), [GIC_PHANDLE]);

    assert_eq!(
        child_names(&fdt, "/"),
        [
            "chosen",
            "aliases",
            "cpus",
            "psci",
            "memory@40000000",
            "memory@48000000",
            "intc@8000000",
            "pl011@9000000",
            "timer",
            "apb-pclk",
        ]
    );

    // CPUs: reg = vCPU index, compatible from the board CPU.
    assert_eq!(child_names(&fdt, "/cpus"), ["cpu@0", "cpu@1"]);
    assert_eq!(cells(&fdt, "/cpus", "#address-cells"), [1]);
    assert_eq!(cells(&fdt, "/cpus", "#size-cells"), [0]);
    for index in 0..2u32 {
        let path = format!("/cpus/cpu@{index}");
        assert_eq!(cells(&fdt, &path, "reg"), [index]);
        assert_eq!(string(&fdt, &path, "device_type"), "cpu");
        assert_eq!(string(&fdt, &path, "enable-method"), "psci");
        assert_eq!(string(&fdt, &path, "compatible"), "arm,cortex-a72");
    }

    let psci = fdt.find_node("/psci").unwrap();
    assert_eq!(string(&fdt, "/psci", "method"), "hvc");
    let compatible: Vec<&str> = psci.compatible().unwrap().all().collect();
    assert_eq!(compatible, ["arm,psci-1.0", "arm,psci-0.2"]);

    // Memory at the IPAs, not the PAs.
    assert_eq!(
        cells(&fdt, "/memory@40000000", "reg"),
        [0, 0x4000_0000, 0, 0x800_0000]
    );
    assert_eq!(
        cells(&fdt, "/memory@48000000", "reg"),
        [0, 0x4800_0000, 0, 0x100_0000]
    );
    assert_eq!(string(&fdt, "/memory@48000000", "device_type"), "memory");

    // The UART verbatim, its clock with the same phandle.
    assert_eq!(
        cells(&fdt, "/pl011@9000000", "reg"),
        [0, 0x0900_0000, 0, 0x1000]
    );
    assert_eq!(
        cells(&fdt, "/pl011@9000000", "clocks"),
        [CLOCK_PHANDLE, CLOCK_PHANDLE]
    );
    assert_eq!(cells(&fdt, "/pl011@9000000", "interrupts"), [0, 1, 4]);
    assert_eq!(cells(&fdt, "/apb-pclk", "phandle"), [CLOCK_PHANDLE]);
    assert_eq!(cells(&fdt, "/apb-pclk", "clock-frequency"), [24_000_000]);
    assert!(fdt
        .find_node("/timer")
        .unwrap()
        .property("always-on")
        .is_some());

    assert_eq!(string(&fdt, "/chosen", "stdout-path"), "/pl011@9000000");
    assert_eq!(
        string(&fdt, "/chosen", "bootargs"),
        "console=ttyAMA0 earlycon"
    );
    assert_eq!(string(&fdt, "/aliases", "serial0"), "/pl011@9000000");

    // Nothing of the other partition or the host.
    for absent in ["/pl011@9040000", "/platform-bus@c000000"] {
        assert!(
            fdt.find_node(absent).is_none(),
            "{absent} leaked into the guest DT"
        );
    }
}

#[test]
fn second_partition_guest_dt() {
    let board = board_dtb();
    let dtb = build(&board, &second(), &GuestDtOptions::default()).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();

    assert_eq!(child_names(&fdt, "/cpus"), ["cpu@0"]);
    assert_eq!(cells(&fdt, "/cpus/cpu@0", "reg"), [0]);
    assert_eq!(string(&fdt, "/cpus/cpu@0", "compatible"), "arm,cortex-a53");
    assert_eq!(
        cells(&fdt, "/memory@40000000", "reg"),
        [0, 0x4000_0000, 0, 0x1000_0000]
    );

    // The bus is recreated with what gives its child's reg meaning, and only that child.
    assert_eq!(child_names(&fdt, "/platform-bus@c000000"), ["widget@1000"]);
    assert_eq!(cells(&fdt, "/platform-bus@c000000", "#address-cells"), [1]);
    assert_eq!(
        cells(&fdt, "/platform-bus@c000000", "ranges"),
        [0, 0, 0x0c00_0000, 0x0200_0000]
    );
    assert!(fdt
        .find_node("/platform-bus@c000000")
        .unwrap()
        .property("interrupt-parent")
        .is_none());
    assert_eq!(
        cells(&fdt, "/platform-bus@c000000/widget@1000", "reg"),
        [0x1000, 0x100]
    );

    assert_eq!(cells(&fdt, "/pl011@9040000", "interrupts"), [0, 8, 4]);
    assert_eq!(cells(&fdt, "/apb-pclk", "phandle"), [CLOCK_PHANDLE]);
    assert_eq!(string(&fdt, "/chosen", "stdout-path"), "/pl011@9040000");
    assert_eq!(string(&fdt, "/aliases", "serial0"), "/pl011@9040000");
    assert!(fdt
        .find_node("/chosen")
        .unwrap()
        .property("bootargs")
        .is_none());
    assert!(fdt.find_node("/pl011@9000000").is_none());
}

#[test]
fn output_is_deterministic() {
    let board = board_dtb();
    let options = GuestDtOptions {
        bootargs: Some("quiet"),
        ..Default::default()
    };
    assert_eq!(
        build(&board, &first(), &options),
        build(&board, &first(), &options)
    );
}

#[test]
fn no_console_means_no_stdout_path() {
    let board = board_dtb();
    let layout = partition(2, vec![2], vec![region(0x7000_0000, 0, 0x1000)], Vec::new());
    let dtb = build(&board, &layout, &GuestDtOptions::default()).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(fdt
        .find_node("/chosen")
        .unwrap()
        .property("stdout-path")
        .is_none());
    assert!(fdt.find_node("/aliases").is_none());
    assert!(fdt.find_node("/apb-pclk").is_none());
    assert!(fdt.find_node("/timer").is_some());
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let board = board_dtb();
    let options = GuestDtOptions::default();
    let with_devices = |paths: &[&str]| {
        let devices = paths.iter().map(|p| device(p)).collect();
        partition(5, vec![0], vec![region(0x7000_0000, 0, 0x1000)], devices)
    };
    assert_eq!(
        build(&board, &with_devices(&["/nope@0"]), &options),
        Err(GuestDtError::DeviceNotFound(String::from("/nope@0")))
    );
    assert_eq!(
        build(&board, &with_devices(&["/psci"]), &options),
        Err(GuestDtError::ReservedNode(String::from("/psci")))
    );
    assert_eq!(
        build(&board, &with_devices(&["/memory@40000000"]), &options),
        Err(GuestDtError::ReservedNode(String::from("/memory@40000000")))
    );
    assert!(matches!(
        build(&board, &with_devices(&["/cpus/cpu@0"]), &options),
        Err(GuestDtError::ReservedNode(_))
    ));
    let mut too_many_cpus = with_devices(&[]);
    too_many_cpus.cpus = vec![0, 9];
    assert_eq!(
        build(&board, &too_many_cpus, &options),
        Err(GuestDtError::NoSuchCpu { vcpu: 1, cpu: 9 })
    );
    let nul = GuestDtOptions {
        bootargs: Some("a\0b"),
        ..Default::default()
    };
    assert!(matches!(
        build(&board, &with_devices(&[]), &nul),
        Err(GuestDtError::Write(_))
    ));
    // Every truncation of the board is refused or handled, never a panic.
    let layout = first();
    for length in (0..board.len()).step_by(7) {
        let _ = build(&board[..length], &layout, &options);
    }
    let mut corrupted = board.clone();
    for index in (40..corrupted.len()).step_by(13) {
        corrupted[index] ^= 0x5a;
        let _ = build(&corrupted, &layout, &options);
    }
}

#[test]
fn errors_name_what_failed() {
    let error = GuestDtError::DeviceNotFound(String::from("/pl011@9"));
    assert_eq!(
        format!("{error}"),
        "guest device tree: device /pl011@9 is not in the board device tree"
    );
}

/// QEMU's own `virt` DTB (virtualization=on, GICv3, SMMUv3, 4x cortex-a72,
/// 2 GiB), dumped with `dumpdtb=` and compacted with `dtc -O dtb`.
const QEMU_VIRT_DTB: &[u8] = include_bytes!("testdata/qemu-virt.dtb");

#[test]
fn real_qemu_virt_board() {
    let layout = partition(
        1,
        vec![2, 3],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/pl011@9040000"), device("/pl031@9010000")],
    );
    let dtb = build(
        QEMU_VIRT_DTB,
        &layout,
        &GuestDtOptions {
            bootargs: Some("console=ttyAMA0"),
            ..Default::default()
        },
    )
    .unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        child_names(&fdt, "/"),
        [
            "chosen",
            "aliases",
            "cpus",
            "psci",
            "memory@40000000",
            "intc@8000000",
            "pl031@9010000",
            "pl011@9040000",
            "pmu",
            "timer",
            "apb-pclk",
        ]
    );
    assert_eq!(string(&fdt, "/cpus/cpu@1", "compatible"), "arm,cortex-a72");
    assert_eq!(cells(&fdt, "/cpus/cpu@1", "reg"), [1]);
    assert_eq!(cells(&fdt, "/pl011@9040000", "clocks"), [0x8000, 0x8000]);
    assert_eq!(cells(&fdt, "/apb-pclk", "phandle"), [0x8000]);
    assert_eq!(string(&fdt, "/chosen", "stdout-path"), "/pl011@9040000");
    assert!(fdt.find_node("/pl011@9000000").is_none());
    assert!(fdt.find_node("/intc@8000000/its@8080000").is_none());
}

fn property<'a>(fdt: &'a Fdt<'_>, path: &str, property: &str) -> Option<&'a [u8]> {
    fdt.find_node(path)
        .unwrap()
        .property(property)
        .map(|p| p.value)
}

fn u64_property(fdt: &Fdt<'_>, path: &str, name: &str) -> u64 {
    let value = property(fdt, path, name).unwrap();
    u64::from_be_bytes(value.try_into().unwrap())
}

/// The guest DT of `partition` on QEMU's own board DTB, read back with
/// Bulkhead's own DT reader and checked by `dtc` when it is installed.
fn qemu_guest_dt(partition: &Partition, options: &GuestDtOptions) -> Vec<u8> {
    let dtb = build(QEMU_VIRT_DTB, partition, options).unwrap();
    crate::config::dt::DeviceTree::parse(&dtb).expect("Bulkhead's reader accepts the guest DT");
    dtc_accepts(&dtb);
    dtb
}

/// `dtc -I dtb` decompiles the blob without errors (skipped without dtc).
fn dtc_accepts(dtb: &[u8]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let Ok(mut child) = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "/dev/null", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        return;
    };
    child.stdin.take().unwrap().write_all(dtb).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "dtc refused the guest DT: {stderr}"
    );
    assert!(!stderr.contains("ERROR"), "dtc: {stderr}");
}

#[test]
fn gic_node_for_one_two_three_vcpus() {
    for vcpus in 1..=3usize {
        let layout = partition(
            0,
            (0..vcpus).collect(),
            vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
            vec![device("/pl011@9000000")],
        );
        let dtb = qemu_guest_dt(&layout, &GuestDtOptions::default());
        let fdt = Fdt::new(&dtb).unwrap();
        let gic = "/intc@8000000";
        let gicr_size = 0x2_0000 * vcpus as u32;
        assert_eq!(
            cells(&fdt, gic, "reg"),
            [0, 0x0800_0000, 0, 0x1_0000, 0, 0x080a_0000, 0, gicr_size],
            "{vcpus} vCPUs"
        );
        assert_eq!(string(&fdt, gic, "compatible"), "arm,gic-v3");
        assert_eq!(cells(&fdt, gic, "#interrupt-cells"), [3]);
        assert_eq!(cells(&fdt, gic, "#address-cells"), [2]);
        assert_eq!(cells(&fdt, gic, "#size-cells"), [2]);
        assert_eq!(cells(&fdt, gic, "#redistributor-regions"), [1]);
        assert_eq!(cells(&fdt, gic, "interrupts"), [1, 9, 4]);
        assert_eq!(property(&fdt, gic, "interrupt-controller"), Some(&[][..]));
        assert_eq!(property(&fdt, gic, "ranges"), Some(&[][..]));
        // No ITS: guests get INTx only.
        assert!(child_names(&fdt, gic).is_empty());
        let phandle = cells(&fdt, gic, "phandle");
        assert_eq!(cells(&fdt, "/", "interrupt-parent"), phandle);
        assert_eq!(child_names(&fdt, "/cpus").len(), vcpus);
    }
}

/// QEMU `virt,virtualization=on,gic-version=2,iommu=smmuv3` (`cargo xtask
/// build --board qemu-virt-gicv2` dumps it to target/board).
const QEMU_VIRT_GICV2_DTB: &[u8] = include_bytes!("testdata/qemu-virt-gicv2.dtb");

#[test]
fn gicv2_board_gives_a_gicv2_guest_with_its_cpu_interface() {
    let layout = partition(
        0,
        vec![0, 1],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/pl011@9000000")],
    );
    let dtb = build(QEMU_VIRT_GICV2_DTB, &layout, &GuestDtOptions::default()).unwrap();
    dtc_accepts(&dtb);
    let fdt = Fdt::new(&dtb).unwrap();
    let gic = "/intc@8000000";
    assert_eq!(string(&fdt, gic, "compatible"), "arm,cortex-a15-gic");
    // GICD (emulated) and GICC (the board's GICV, mapped at the GICC address).
    assert_eq!(
        cells(&fdt, gic, "reg"),
        [0, 0x0800_0000, 0, 0x1000, 0, 0x0801_0000, 0, 0x2000]
    );
    assert_eq!(property(&fdt, gic, "#redistributor-regions"), None);
    assert_eq!(cells(&fdt, gic, "interrupts"), [1, 9, 4]);
    // No GICv2m MSI frame: guests get INTx only.
    assert!(child_names(&fdt, gic).is_empty());
    let phandle = cells(&fdt, gic, "phandle");
    assert_eq!(cells(&fdt, "/", "interrupt-parent"), phandle);
    // The UART's own SPI as the board gives it (SPI 1, level high).
    assert_eq!(cells(&fdt, "/pl011@9000000", "interrupts"), [0, 1, 4]);
}

#[test]
fn chosen_has_bootargs_and_initrd() {
    let mut layout = partition(
        0,
        vec![0, 1],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/pl011@9000000")],
    );
    layout.bootargs = Some(String::from("console=ttyAMA0 rdinit=/init"));
    let options = GuestDtOptions {
        initrd: Some((Ipa(0x4f00_0000), 0x12_3456)),
        ..Default::default()
    };
    let dtb = qemu_guest_dt(&layout, &options);
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(
        string(&fdt, "/chosen", "bootargs"),
        "console=ttyAMA0 rdinit=/init"
    );
    assert_eq!(string(&fdt, "/chosen", "stdout-path"), "/pl011@9000000");
    assert_eq!(
        u64_property(&fdt, "/chosen", "linux,initrd-start"),
        0x4f00_0000
    );
    assert_eq!(
        u64_property(&fdt, "/chosen", "linux,initrd-end"),
        0x4f12_3456
    );
    // The board's own chosen properties (its kaslr-seed...) are not copied.
    assert!(property(&fdt, "/chosen", "kaslr-seed").is_none());

    // Options override the partition's bootargs.
    let options = GuestDtOptions {
        bootargs: Some("quiet"),
        ..Default::default()
    };
    let dtb = build(QEMU_VIRT_DTB, &layout, &options).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    assert_eq!(string(&fdt, "/chosen", "bootargs"), "quiet");
    assert!(property(&fdt, "/chosen", "linux,initrd-start").is_none());

    let wraps = GuestDtOptions {
        initrd: Some((Ipa(u64::MAX), 2)),
        ..Default::default()
    };
    assert_eq!(
        build(QEMU_VIRT_DTB, &layout, &wraps),
        Err(GuestDtError::InitrdWraps)
    );
}

#[test]
fn pcie_host_on_qemu_virt() {
    let layout = partition(
        0,
        vec![0, 1],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/pl011@9000000"), device("/pcie@10000000")],
    );
    let dtb = qemu_guest_dt(&layout, &GuestDtOptions::default());
    let fdt = Fdt::new(&dtb).unwrap();
    let pcie = "/pcie@10000000";
    for dropped in ["msi-map", "msi-parent", "iommu-map"] {
        assert!(property(&fdt, pcie, dropped).is_none(), "{dropped} kept");
    }
    assert_eq!(string(&fdt, pcie, "compatible"), "pci-host-ecam-generic");
    assert_eq!(string(&fdt, pcie, "device_type"), "pci");
    assert_eq!(
        cells(&fdt, pcie, "reg"),
        [0x40, 0x1000_0000, 0, 0x1000_0000]
    );
    assert_eq!(cells(&fdt, pcie, "interrupt-map-mask"), [0x1800, 0, 0, 7]);
    // The I/O and 32-bit windows; the 64-bit one at 512 GiB is beyond the IPA space.
    assert_eq!(
        cells(&fdt, pcie, "ranges"),
        [
            0x0100_0000,
            0,
            0,
            0,
            0x3eff_0000,
            0,
            0x1_0000, //
            0x0200_0000,
            0,
            0x1000_0000,
            0,
            0x1000_0000,
            0,
            0x2eff_0000,
        ]
    );
    let gic_phandle = cells(&fdt, "/intc@8000000", "phandle")[0];
    let map = cells(&fdt, pcie, "interrupt-map");
    // 4 slots x 4 pins, each <child(3) pin gic 0 0 0 spi 4>.
    assert_eq!(map.len(), 16 * 10);
    for entry in map.chunks_exact(10) {
        assert_eq!(entry[4], gic_phandle);
        assert_eq!(entry[5..8], [0, 0, 0]);
        assert!((3..=6).contains(&entry[8]), "SPI {}", entry[8]);
        assert_eq!(entry[9], 4);
    }
    // The timer and the PMU come along; the SMMU and the ITS do not.
    assert_eq!(cells(&fdt, "/timer", "interrupts").len(), 12);
    assert_eq!(cells(&fdt, "/pmu", "interrupts"), [1, 7, 4]);
    assert!(fdt.find_node("/smmuv3@9050000").is_none());
}

#[test]
fn interrupt_map_is_reencoded_for_the_guest_gic() {
    let layout = partition(
        0,
        vec![0],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/pcie@10000000")],
    );
    let dtb = build(&board_dtb(), &layout, &GuestDtOptions::default()).unwrap();
    dtc_accepts(&dtb);
    let fdt = Fdt::new(&dtb).unwrap();
    // The board's GIC has no #address-cells; the guest's has 2, so two
    // zero cells of parent unit address appear in every entry.
    let mut expected = Vec::new();
    for pin in 1..=4u32 {
        expected.extend_from_slice(&[0, 0, 0, pin, GIC_PHANDLE, 0, 0, 0, 2 + pin, 4]);
    }
    assert_eq!(cells(&fdt, "/pcie@10000000", "interrupt-map"), expected);
    assert!(property(&fdt, "/pcie@10000000", "msi-map").is_none());
    assert!(property(&fdt, "/pcie@10000000", "iommu-map").is_none());
    assert_eq!(cells(&fdt, "/", "interrupt-parent"), [GIC_PHANDLE]);
}

/// The small board, rewritten without what `keep(node name, property
/// name)` rejects (property name "" asks about the whole node).
fn board_without(keep: impl Fn(&str, &str) -> bool) -> Vec<u8> {
    use crate::config::dt::{DeviceTree, Node};
    fn copy(w: &mut FdtWriter, node: &Node<'_, '_>, keep: &dyn Fn(&str, &str) -> bool) {
        let handle = w.begin_node(node.name()).unwrap();
        for p in node.properties().filter(|p| keep(node.name(), p.name)) {
            w.property(p.name, p.value).unwrap();
        }
        for child in node.children().filter(|c| keep(c.name(), "")) {
            copy(w, &child, keep);
        }
        w.end_node(handle).unwrap();
    }
    let board = board_dtb();
    let tree = DeviceTree::parse(&board).unwrap();
    let mut w = FdtWriter::new().unwrap();
    copy(&mut w, &tree.root().unwrap(), &keep);
    w.finish().unwrap()
}

#[test]
fn gic_without_phandle_gets_a_fresh_one() {
    let board =
        board_without(|node, property| !(node.starts_with("intc") && property == "phandle"));
    let dtb = build(&board, &first(), &GuestDtOptions::default()).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();
    // Higher than every board phandle (the CPUs use up to 0x8004).
    let phandle = cells(&fdt, "/intc@8000000", "phandle");
    assert_eq!(phandle, [0x8005]);
    assert_eq!(cells(&fdt, "/", "interrupt-parent"), phandle);
}

#[test]
fn gic_parts_and_a_board_without_gic_are_refused() {
    let its = partition(
        0,
        vec![0],
        vec![region(0x6000_0000, 0x4000_0000, 0x1000_0000)],
        vec![device("/intc@8000000/its@8080000")],
    );
    assert!(matches!(
        build(QEMU_VIRT_DTB, &its, &GuestDtOptions::default()),
        Err(GuestDtError::ReservedNode(_))
    ));
    let no_gic = board_without(|node, _| !node.starts_with("intc"));
    assert!(matches!(
        build(&no_gic, &first(), &GuestDtOptions::default()),
        Err(GuestDtError::MissingNode(_))
    ));
}

#[test]
fn boot_count_is_patched_in_place_as_if_rebuilt() {
    let board = board_dtb();
    let built = |boot_count| {
        let options = GuestDtOptions {
            boot_count,
            ..Default::default()
        };
        build(&board, &first(), &options).unwrap()
    };
    let mut patched = built(1);
    let offset = super::boot_count_offset(&patched).expect("boot-count present");
    patched[offset..offset + 4].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(patched, built(7));
    assert_eq!(
        super::boot_count_offset(&built(0)),
        None,
        "no count, no offset"
    );
}

#[test]
fn seeds_are_placeholders_patched_at_each_start() {
    let board = board_dtb();
    let options = GuestDtOptions {
        seeds: true,
        ..Default::default()
    };
    let mut fdt = build(&board, &first(), &options).unwrap();
    let seed_bytes = crate::entropy::RNG_SEED_BYTES;
    let rng = super::chosen_value_offset(&fdt, "rng-seed", seed_bytes).expect("rng-seed");
    let kaslr = super::chosen_value_offset(&fdt, "kaslr-seed", 8).expect("kaslr-seed");
    assert!(fdt[rng..rng + seed_bytes].iter().all(|&byte| byte == 0));
    assert!(fdt[kaslr..kaslr + 8].iter().all(|&byte| byte == 0));
    let key = crate::entropy::SeedKey::from_words(&[5, 6]).unwrap();
    fdt[rng..rng + seed_bytes].copy_from_slice(&key.rng_seed(0, 1));
    fdt[kaslr..kaslr + 8].copy_from_slice(&key.kaslr_seed(0, 1));
    let tree = crate::config::dt::DeviceTree::parse(&fdt).unwrap();
    let chosen = tree.find("/chosen").unwrap();
    assert_eq!(
        chosen.property("rng-seed").unwrap().value,
        key.rng_seed(0, 1)
    );
    assert_eq!(
        chosen.property("kaslr-seed").unwrap().value,
        key.kaslr_seed(0, 1)
    );
    // Without entropy the properties are absent (not zero seeds).
    let plain = build(&board, &first(), &GuestDtOptions::default()).unwrap();
    assert_eq!(
        super::chosen_value_offset(&plain, "rng-seed", seed_bytes),
        None
    );
}

/// A channel as partition `peers[index]` sees it at `slot`.
fn channel(
    id: u32,
    slot: usize,
    index: usize,
    ipa: u64,
    size: u64,
    read_only: bool,
) -> PartitionChannel {
    PartitionChannel {
        id,
        label: format!("ch{id}"),
        slot,
        index,
        pa: PhysAddr(0x9000_0000 + u64::from(id) * 0x10_0000),
        ipa: Ipa(ipa),
        size,
        read_only,
        peers: vec![0, 1, 2],
    }
}

/// `ranges` entry `<phys.hi addr(2)  addr(2)  size(2)>` with PCI address == CPU address.
fn identity_range(phys_high: u32, start: u64, size: u64) -> [u32; 7] {
    let (high, low) = ((start >> 32) as u32, start as u32);
    [
        phys_high,
        high,
        low,
        high,
        low,
        (size >> 32) as u32,
        size as u32,
    ]
}

#[test]
fn channels_and_the_control_function() {
    let mut layout = first();
    layout.manages = vec![1];
    layout.channels = vec![
        channel(0, 0, 1, 0x6000_0000, 0x1_0000, true),
        channel(3, 1, 0, 0x1_0000_0000, 0x20_0000, false),
    ];
    let dtb = qemu_guest_dt(&layout, &GuestDtOptions::default());
    let fdt = Fdt::new(&dtb).unwrap();

    assert_eq!(cells(&fdt, "/chosen", "linux,pci-probe-only"), [1]);
    let bulkhead = "/chosen/bulkhead";
    assert_eq!(cells(&fdt, bulkhead, "#address-cells"), [1]);
    assert_eq!(cells(&fdt, bulkhead, "#size-cells"), [0]);
    assert_eq!(child_names(&fdt, bulkhead), ["channel@0", "channel@3"]);
    let first_channel = "/chosen/bulkhead/channel@0";
    assert_eq!(cells(&fdt, first_channel, "reg"), [0]);
    assert_eq!(string(&fdt, first_channel, "label"), "ch0");
    assert_eq!(
        cells(&fdt, first_channel, "memory"),
        [0, 0x6000_0000, 0, 0x1_0000]
    );
    assert_eq!(cells(&fdt, first_channel, "endpoint"), [1]);
    assert_eq!(cells(&fdt, first_channel, "endpoints"), [3]);
    // Doorbell of slot 0: INTID 961, SPI 929, edge rising.
    assert_eq!(cells(&fdt, first_channel, "interrupts"), [0, 929, 1]);
    assert_eq!(property(&fdt, first_channel, "read-only"), Some(&[][..]));
    let second_channel = "/chosen/bulkhead/channel@3";
    assert_eq!(cells(&fdt, second_channel, "reg"), [3]);
    assert_eq!(cells(&fdt, second_channel, "memory"), [1, 0, 0, 0x20_0000]);
    assert_eq!(cells(&fdt, second_channel, "endpoint"), [0]);
    assert_eq!(cells(&fdt, second_channel, "interrupts"), [0, 931, 1]);
    assert!(property(&fdt, second_channel, "read-only").is_none());

    let pcie = "/pcie@3f000000";
    assert_eq!(string(&fdt, pcie, "compatible"), "pci-host-ecam-generic");
    assert_eq!(cells(&fdt, pcie, "reg"), [0, 0x3f00_0000, 0, 0x10_0000]);
    assert_eq!(cells(&fdt, pcie, "bus-range"), [0, 0]);
    let mut ranges = Vec::new();
    ranges.extend(identity_range(
        0x0200_0000,
        VIRTUAL_MMIO.start.0,
        VIRTUAL_MMIO.size,
    ));
    ranges.extend(identity_range(0x4300_0000, 0x6000_0000, 0x1_0000));
    ranges.extend(identity_range(0x4300_0000, 0x1_0000_0000, 0x20_0000));
    assert_eq!(cells(&fdt, pcie, "ranges"), ranges);
    let gic_phandle = cells(&fdt, "/intc@8000000", "phandle")[0];
    let device = |d: u8| u32::from(d) << 11;
    // Channel INTx: slot 0 INTID 962 (SPI 930), slot 1 INTID 964 (SPI 932); control INTID 960.
    let expected_map = [
        [
            device(channel_device(0)),
            0,
            0,
            1,
            gic_phandle,
            0,
            0,
            0,
            930,
            4,
        ],
        [
            device(channel_device(1)),
            0,
            0,
            1,
            gic_phandle,
            0,
            0,
            0,
            932,
            4,
        ],
        [
            device(CONTROL_DEVICE),
            0,
            0,
            1,
            gic_phandle,
            0,
            0,
            0,
            928,
            4,
        ],
    ]
    .concat();
    assert_eq!(cells(&fdt, pcie, "interrupt-map"), expected_map);
    assert_eq!(cells(&fdt, pcie, "interrupt-map-mask"), [0xff00, 0, 0, 7]);
}

#[test]
fn a_manager_alone_gets_the_virtual_host() {
    let mut layout = first();
    layout.manages = vec![1];
    let dtb = qemu_guest_dt(&layout, &GuestDtOptions::default());
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(fdt.find_node("/chosen/bulkhead").is_none());
    assert_eq!(cells(&fdt, "/chosen", "linux,pci-probe-only"), [1]);
    let pcie = "/pcie@3f000000";
    assert_eq!(
        cells(&fdt, pcie, "ranges"),
        identity_range(0x0200_0000, VIRTUAL_MMIO.start.0, VIRTUAL_MMIO.size)
    );
    assert_eq!(cells(&fdt, pcie, "interrupt-map").len(), 10);
}

#[test]
fn pci_functions_and_a_channel_share_the_virtual_host() {
    let mut layout = first();
    layout.pci_functions = vec![PciFunction {
        address: FunctionAddress {
            bus: 0,
            device: 2,
            function: 0,
        },
        host: String::from("/pcie@10000000"),
        interrupt: Some(37),
        pin: 1,
        bars: Vec::new(),
        stream: Some(0x10),
    }];
    layout.channels = vec![channel(0, 0, 0, 0x6000_0000, 0x1_0000, false)];
    let dtb = qemu_guest_dt(&layout, &GuestDtOptions::default());
    let fdt = Fdt::new(&dtb).unwrap();
    let pcie = "/pcie@3f000000";
    // The board host's 32-bit window (its 64-bit one is beyond the IPA
    // space, its I/O window is not memory), then the virtual windows.
    let mut ranges = Vec::new();
    ranges.extend(identity_range(0x0200_0000, 0x1000_0000, 0x2eff_0000));
    ranges.extend(identity_range(
        0x0200_0000,
        VIRTUAL_MMIO.start.0,
        VIRTUAL_MMIO.size,
    ));
    ranges.extend(identity_range(0x4300_0000, 0x6000_0000, 0x1_0000));
    assert_eq!(cells(&fdt, pcie, "ranges"), ranges);
    let gic_phandle = cells(&fdt, "/intc@8000000", "phandle")[0];
    let expected_map = [
        [2 << 11, 0, 0, 1, gic_phandle, 0, 0, 0, 5, 4],
        [
            u32::from(channel_device(0)) << 11,
            0,
            0,
            1,
            gic_phandle,
            0,
            0,
            0,
            930,
            4,
        ],
    ]
    .concat();
    assert_eq!(cells(&fdt, pcie, "interrupt-map"), expected_map);
    assert!(fdt.find_node("/chosen/bulkhead/channel@0").is_some());
}

#[test]
fn no_virtual_bus_no_virtual_host() {
    let dtb = qemu_guest_dt(&first(), &GuestDtOptions::default());
    let fdt = Fdt::new(&dtb).unwrap();
    assert!(fdt.find_node("/pcie@3f000000").is_none());
    assert!(fdt.find_node("/chosen/bulkhead").is_none());
    assert!(property(&fdt, "/chosen", "linux,pci-probe-only").is_none());
}

/// A Raspberry-Pi-like board: a 2/1 root, its devices on a 1/1 `/soc` bus
/// whose `ranges` put bus address 0x7e00_0000 at 0xfe00_0000, a GIC-400, and
/// one device right under the root.
fn two_one_root_dtb() -> Vec<u8> {
    let mut w = FdtWriter::new().unwrap();
    let root = w.begin_node("").unwrap();
    w.property_u32("#address-cells", 2).unwrap();
    w.property_u32("#size-cells", 1).unwrap();
    w.property_u32("interrupt-parent", GIC_PHANDLE).unwrap();
    let memory = w.begin_node("memory@0").unwrap();
    w.property_array_u32("reg", &[0, 0, 0x3c00_0000]).unwrap();
    w.property_string("device_type", "memory").unwrap();
    w.end_node(memory).unwrap();
    let cpus = w.begin_node("cpus").unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 0).unwrap();
    let cpu = w.begin_node("cpu@0").unwrap();
    w.property_u32("reg", 0).unwrap();
    w.property_string("device_type", "cpu").unwrap();
    w.property_string("compatible", "arm,cortex-a72").unwrap();
    w.end_node(cpu).unwrap();
    w.end_node(cpus).unwrap();
    let soc = w.begin_node("soc").unwrap();
    w.property_string("compatible", "simple-bus").unwrap();
    w.property_u32("#address-cells", 1).unwrap();
    w.property_u32("#size-cells", 1).unwrap();
    w.property_array_u32("ranges", &[0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000])
        .unwrap();
    let uart = w.begin_node("serial@7e215040").unwrap();
    w.property_string("compatible", "brcm,bcm2835-aux-uart")
        .unwrap();
    w.property_array_u32("reg", &[0x7e21_5040, 0x40]).unwrap();
    w.property_array_u32("interrupts", &[0, 93, 4]).unwrap();
    w.end_node(uart).unwrap();
    w.end_node(soc).unwrap();
    let gic = w.begin_node("interrupt-controller@40041000").unwrap();
    w.property_phandle(GIC_PHANDLE).unwrap();
    w.property_string("compatible", "arm,gic-400").unwrap();
    w.property_array_u32("reg", &[0, 0xff84_1000, 0x1000, 0, 0xff84_2000, 0x2000])
        .unwrap();
    w.property_null("interrupt-controller").unwrap();
    w.property_u32("#interrupt-cells", 3).unwrap();
    w.end_node(gic).unwrap();
    let widget = w.begin_node("widget@ff000000").unwrap();
    w.property_string("compatible", "acme,widget").unwrap();
    w.property_array_u32("reg", &[0, 0xff00_0000, 0x1000])
        .unwrap();
    w.end_node(widget).unwrap();
    w.end_node(root).unwrap();
    w.finish().unwrap()
}

#[test]
fn a_two_one_root_gives_bus_devices_but_not_root_level_ones() {
    let board = two_one_root_dtb();
    let memory = vec![region(0x1000_0000, 0x4000_0000, 0x100_0000)];
    let on_bus = partition(
        0,
        vec![0],
        memory.clone(),
        vec![device("/soc/serial@7e215040")],
    );
    let dtb = build(&board, &on_bus, &GuestDtOptions::default()).unwrap();
    dtc_accepts(&dtb);
    let fdt = Fdt::new(&dtb).unwrap();
    // The bus keeps its 1/1 cells and `ranges` (parent addresses in the
    // root's two cells, the same in the guest's 2/2 root), the device its reg.
    assert_eq!(cells(&fdt, "/", "#size-cells"), [2]);
    assert_eq!(
        cells(&fdt, "/soc", "ranges"),
        [0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000]
    );
    assert_eq!(
        cells(&fdt, "/soc/serial@7e215040", "reg"),
        [0x7e21_5040, 0x40]
    );
    assert_eq!(
        cells(&fdt, "/soc/serial@7e215040", "interrupts"),
        [0, 93, 4]
    );

    // A `reg` right under the root is in the root's 2/1 cells: not copied.
    let at_root = partition(0, vec![0], memory, vec![device("/widget@ff000000")]);
    assert!(matches!(
        build(&board, &at_root, &GuestDtOptions::default()),
        Err(GuestDtError::RootCells {
            address_cells: 2,
            size_cells: 1
        })
    ));
}
