//! Host tests: guest DTs for a two-partition layout over a QEMU-virt-like board.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use fdt::Fdt;
use vm_fdt::FdtWriter;

use super::*;
use crate::address::{Ipa, PhysAddr};
use crate::config::{Device, MemoryRegion, Module, Partition};

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
    };
    let dtb = build(&board, &first(), &options).unwrap();
    let fdt = Fdt::new(&dtb).unwrap();

    let root = fdt.find_node("/").unwrap();
    assert_eq!(string(&fdt, "/", "compatible"), "linux,dummy-virt");
    assert_eq!(string(&fdt, "/", "model"), "linux,dummy-virt");
    assert_eq!(cells(&fdt, "/", "#address-cells"), [2]);
    assert_eq!(cells(&fdt, "/", "#size-cells"), [2]);
    assert!(
        root.property("interrupt-parent").is_none(),
        "dangling root interrupt-parent"
    );

    assert_eq!(
        child_names(&fdt, "/"),
        [
            "chosen",
            "aliases",
            "cpus",
            "psci",
            "memory@40000000",
            "memory@48000000",
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
    for absent in ["/pl011@9040000", "/platform-bus@c000000", "/intc@8000000"] {
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
            "pl031@9010000",
            "pl011@9040000",
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
    assert!(fdt.find_node("/intc@8000000").is_none());
}
