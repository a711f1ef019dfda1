//! Test fixtures: an editable device tree, the QEMU `virt` board and a good two-partition layout.
#![allow(dead_code)]

use bulkhead_core::config::{parse_board, parse_layout, Layout, LayoutError, PhysRange};
use vm_fdt::FdtWriter;

/// Bulkhead's reserved area on qemu-virt (see `platform::qemu_virt`).
pub const RESERVED: PhysRange = PhysRange::new(0x4000_0000, 0x1000_0000);
/// The hypervisor's image, heap and stacks: the first 64 MiB of it.
pub const HYPERVISOR: PhysRange = PhysRange::new(0x4000_0000, 0x0400_0000);

pub const ALPHA: &str = "/chosen/bulkhead/partition@0";
pub const BETA: &str = "/chosen/bulkhead/partition@1";
pub const LAYOUT: &str = "/chosen/bulkhead";

/// A device-tree node that tests can edit before serialising it.
#[derive(Clone, Debug)]
pub struct TestNode {
    pub name: String,
    pub properties: Vec<(String, Vec<u8>)>,
    pub children: Vec<TestNode>,
}

pub fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

pub fn strings(values: &[&str]) -> Vec<u8> {
    values.iter().flat_map(|s| s.bytes().chain([0])).collect()
}

/// Cells of 64-bit values, two each (high, then low).
pub fn wide(values: &[u64]) -> Vec<u8> {
    let words: Vec<u32> = values
        .iter()
        .flat_map(|&v| [(v >> 32) as u32, v as u32])
        .collect();
    cells(&words)
}

impl TestNode {
    pub fn new(name: &str) -> Self {
        TestNode {
            name: name.to_string(),
            properties: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn raw(mut self, name: &str, value: Vec<u8>) -> Self {
        self.set(name, value);
        self
    }

    pub fn cells(self, name: &str, values: &[u32]) -> Self {
        self.raw(name, cells(values))
    }

    pub fn string(self, name: &str, value: &str) -> Self {
        self.raw(name, strings(&[value]))
    }

    pub fn strings(self, name: &str, values: &[&str]) -> Self {
        self.raw(name, strings(values))
    }

    pub fn flag(self, name: &str) -> Self {
        self.raw(name, Vec::new())
    }

    pub fn child(mut self, child: TestNode) -> Self {
        self.children.push(child);
        self
    }

    /// Sets (or replaces) a property.
    pub fn set(&mut self, name: &str, value: Vec<u8>) {
        match self.properties.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.properties.push((name.to_string(), value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.properties.retain(|(n, _)| n != name);
    }

    /// The node at `path` (absolute, from this node as root).
    pub fn at(&mut self, path: &str) -> &mut TestNode {
        let mut node = self;
        for component in path.split('/').filter(|c| !c.is_empty()) {
            node = node
                .children
                .iter_mut()
                .find(|c| c.name == component)
                .unwrap_or_else(|| panic!("test fixture has no {component} in {path}"));
        }
        node
    }

    fn write(&self, writer: &mut FdtWriter) {
        let node = writer.begin_node(&self.name).expect("begin node");
        for (name, value) in &self.properties {
            writer.property(name, value).expect("property");
        }
        for child in &self.children {
            child.write(writer);
        }
        writer.end_node(node).expect("end node");
    }

    pub fn to_dtb(&self) -> Vec<u8> {
        let mut writer = FdtWriter::new().expect("writer");
        self.write(&mut writer);
        writer.finish().expect("finish")
    }
}

fn virtio(address: u32, spi: u32) -> TestNode {
    TestNode::new(&format!("virtio_mmio@{address:x}"))
        .flag("dma-coherent")
        .cells("interrupts", &[0, spi, 1])
        .cells("reg", &[0, address, 0, 0x200])
        .string("compatible", "virtio,mmio")
}

fn pl011(address: u32, spi: u32) -> TestNode {
    TestNode::new(&format!("pl011@{address:x}"))
        .strings("clock-names", &["uartclk", "apb_pclk"])
        .cells("clocks", &[0x8000, 0x8000])
        .cells("interrupts", &[0, spi, 4])
        .cells("reg", &[0, address, 0, 0x1000])
        .strings("compatible", &["arm,pl011", "arm,primecell"])
}

/// QEMU virt's PCIe INTx swizzle: slot s, pin p (1-4) -> SPI 3 + (s + p - 1) % 4,
/// each entry `<devfn-hi 0 0 pin  gic  0 0  0 spi 4>` (the GIC has 2 address cells).
pub fn pcie_interrupt_map() -> Vec<u32> {
    let mut map = Vec::new();
    for slot in 0..4u32 {
        for pin in 1..=4u32 {
            let spi = 3 + (slot + pin - 1) % 4;
            map.extend_from_slice(&[slot << 11, 0, 0, pin, 0x8005, 0, 0, 0, spi, 4]);
        }
    }
    map
}

fn cpu(index: u32, phandle: u32) -> TestNode {
    TestNode::new(&format!("cpu@{index}"))
        .cells("phandle", &[phandle])
        .cells("reg", &[index])
        .string("enable-method", "psci")
        .string("compatible", "arm,cortex-a72")
        .string("device_type", "cpu")
}

/// The relevant nodes of QEMU 10.0 `virt,virtualization=on,gic-version=3,iommu=smmuv3`
/// with 4 cortex-a72 and 2 GiB (dumped with `dumpdtb`, virtio transports trimmed).
pub fn qemu_virt_board() -> TestNode {
    TestNode::new("")
        .cells("interrupt-parent", &[0x8005])
        .cells("#size-cells", &[2])
        .cells("#address-cells", &[2])
        .string("compatible", "linux,dummy-virt")
        .child(
            TestNode::new("psci")
                .cells("migrate", &[0xc400_0005])
                .cells("cpu_on", &[0xc400_0003])
                .cells("cpu_off", &[0x8400_0002])
                .cells("cpu_suspend", &[0xc400_0001])
                .string("method", "smc")
                .strings("compatible", &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]),
        )
        .child(
            TestNode::new("memory@40000000")
                .cells("reg", &[0, 0x4000_0000, 0, 0x8000_0000])
                .string("device_type", "memory"),
        )
        .child(
            TestNode::new("platform-bus@c000000")
                .cells("interrupt-parent", &[0x8005])
                .cells("ranges", &[0, 0, 0x0c00_0000, 0x0200_0000])
                .cells("#address-cells", &[1])
                .cells("#size-cells", &[1])
                .strings("compatible", &["qemu,platform", "simple-bus"]),
        )
        .child(
            TestNode::new("fw-cfg@9020000")
                .flag("dma-coherent")
                .cells("reg", &[0, 0x0902_0000, 0, 0x18])
                .string("compatible", "qemu,fw-cfg-mmio"),
        )
        .child(virtio(0x0a00_0000, 0x10))
        .child(virtio(0x0a00_0200, 0x11))
        .child(virtio(0x0a00_0400, 0x12))
        .child(
            TestNode::new("gpio-keys")
                .string("compatible", "gpio-keys")
                .child(
                    TestNode::new("poweroff")
                        .cells("gpios", &[0x8008, 3, 0])
                        .cells("linux,code", &[0x74])
                        .string("label", "GPIO Key Poweroff"),
                ),
        )
        .child(
            TestNode::new("pl061@9030000")
                .cells("phandle", &[0x8008])
                .cells("interrupts", &[0, 7, 4])
                .flag("gpio-controller")
                .cells("#gpio-cells", &[2])
                .strings("compatible", &["arm,pl061", "arm,primecell"])
                .cells("reg", &[0, 0x0903_0000, 0, 0x1000]),
        )
        .child(
            TestNode::new("smmuv3@9050000")
                .cells("phandle", &[0x8007])
                .cells("#iommu-cells", &[1])
                .cells(
                    "interrupts",
                    &[0, 0x4a, 1, 0, 0x4b, 1, 0, 0x4c, 1, 0, 0x4d, 1],
                )
                .cells("reg", &[0, 0x0905_0000, 0, 0x20000])
                .string("compatible", "arm,smmu-v3"),
        )
        .child(
            TestNode::new("pcie@10000000")
                .cells("iommu-map", &[0, 0x8007, 0, 0x10000])
                .cells("interrupt-map-mask", &[0x1800, 0, 0, 7])
                .cells("interrupt-map", &pcie_interrupt_map())
                .cells("#interrupt-cells", &[1])
                .cells(
                    "ranges",
                    &[
                        0x0100_0000,
                        0,
                        0,
                        0,
                        0x3eff_0000,
                        0,
                        0x10000,
                        0x0200_0000,
                        0,
                        0x1000_0000,
                        0,
                        0x1000_0000,
                        0,
                        0x2eff_0000,
                        0x0300_0000,
                        0x80,
                        0,
                        0x80,
                        0,
                        0x80,
                        0,
                    ],
                )
                .cells("reg", &[0x40, 0x1000_0000, 0, 0x1000_0000])
                .cells("msi-map", &[0, 0x8006, 0, 0x10000])
                .cells("#size-cells", &[2])
                .cells("#address-cells", &[3])
                .string("device_type", "pci")
                .string("compatible", "pci-host-ecam-generic"),
        )
        .child(
            TestNode::new("pl031@9010000")
                .cells("interrupts", &[0, 2, 4])
                .cells("reg", &[0, 0x0901_0000, 0, 0x1000])
                .strings("compatible", &["arm,pl031", "arm,primecell"]),
        )
        .child(pl011(0x0900_0000, 1))
        .child(pl011(0x0904_0000, 8))
        .child(pl011(0x0907_0000, 9))
        .child(
            TestNode::new("pmu")
                .cells("interrupts", &[1, 7, 4])
                .string("compatible", "arm,armv8-pmuv3"),
        )
        .child(
            TestNode::new("intc@8000000")
                .cells("phandle", &[0x8005])
                .cells("interrupts", &[1, 9, 4])
                .cells(
                    "reg",
                    &[0, 0x0800_0000, 0, 0x10000, 0, 0x080a_0000, 0, 0x00f6_0000],
                )
                .cells("#redistributor-regions", &[1])
                .string("compatible", "arm,gic-v3")
                .flag("ranges")
                .cells("#size-cells", &[2])
                .cells("#address-cells", &[2])
                .flag("interrupt-controller")
                .cells("#interrupt-cells", &[3])
                .child(
                    TestNode::new("its@8080000")
                        .cells("phandle", &[0x8006])
                        .cells("reg", &[0, 0x0808_0000, 0, 0x20000])
                        .cells("#msi-cells", &[1])
                        .flag("msi-controller")
                        .string("compatible", "arm,gic-v3-its"),
                ),
        )
        .child(
            TestNode::new("flash@0")
                .cells("bank-width", &[4])
                .cells(
                    "reg",
                    &[0, 0, 0, 0x0400_0000, 0, 0x0400_0000, 0, 0x0400_0000],
                )
                .string("compatible", "cfi-flash"),
        )
        .child(
            TestNode::new("cpus")
                .cells("#size-cells", &[0])
                .cells("#address-cells", &[1])
                .child(
                    TestNode::new("cpu-map").child(
                        TestNode::new("socket0").child(
                            TestNode::new("cluster0")
                                .child(TestNode::new("core0").cells("cpu", &[0x8004]))
                                .child(TestNode::new("core1").cells("cpu", &[0x8003]))
                                .child(TestNode::new("core2").cells("cpu", &[0x8002]))
                                .child(TestNode::new("core3").cells("cpu", &[0x8001])),
                        ),
                    ),
                )
                .child(cpu(0, 0x8004))
                .child(cpu(1, 0x8003))
                .child(cpu(2, 0x8002))
                .child(cpu(3, 0x8001)),
        )
        .child(
            TestNode::new("timer")
                .cells("interrupts", &[1, 0xd, 4, 1, 0xe, 4, 1, 0xb, 4, 1, 0xa, 4])
                .flag("always-on")
                .strings("compatible", &["arm,armv8-timer", "arm,armv7-timer"]),
        )
        .child(
            TestNode::new("apb-pclk")
                .cells("phandle", &[0x8000])
                .string("clock-output-names", "clk24mhz")
                .cells("clock-frequency", &[0x016e_3600])
                .cells("#clock-cells", &[0])
                .string("compatible", "fixed-clock"),
        )
        .child(
            TestNode::new("aliases")
                .string("serial0", "/pl011@9000000")
                .string("serial1", "/pl011@9040000"),
        )
        .child(
            TestNode::new("chosen")
                .string("stdout-path", "/pl011@9000000")
                .cells("kaslr-seed", &[0x59ff_1ed0, 0x1891_efd3]),
        )
}

/// alpha: CPUs 0-1, 256 MiB at PA 0x5000_0000 (IPA 0x4000_0000), the first UART.
/// beta: CPUs 2-3, 256 MiB + 16 MiB, the second UART and a virtio transport,
/// kernel entered at an explicit load address. Both start at IPA 0x4000_0000.
pub fn good_layout() -> TestNode {
    TestNode::new("bulkhead")
        .string("compatible", "bulkhead,layout-v1")
        // alpha owns the board's stdout UART: Bulkhead takes a third one.
        .string("console", "/pl011@9070000")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .child(
            TestNode::new("partition@0")
                .cells("reg", &[0])
                .string("label", "alpha")
                .cells("cpus", &[0, 1])
                .cells("memory", &[0, 0x5000_0000, 0, 0x4000_0000, 0, 0x1000_0000])
                .string("devices", "/pl011@9000000")
                .cells("kernel", &[0, 0x4c00_0000, 0, 0x0010_0000]),
        )
        .child(
            TestNode::new("partition@1")
                .cells("reg", &[1])
                .string("label", "beta")
                .cells("cpus", &[3, 2])
                .cells(
                    "memory",
                    &[
                        0,
                        0x6000_0000,
                        0,
                        0x4000_0000,
                        0,
                        0x1000_0000, //
                        0,
                        0x7000_0000,
                        0,
                        0x5000_0000,
                        0,
                        0x0100_0000,
                    ],
                )
                .strings("devices", &["/pl011@9040000", "/virtio_mmio@a000200"])
                .cells("kernel", &[0, 0x4c10_0000, 0, 0x0020_0000])
                .cells("load-address", &[0, 0x4008_0000]),
        )
}

/// The board with `layout` under `/chosen`, as fdtoverlay would produce it.
pub fn merge(mut board: TestNode, layout: TestNode) -> TestNode {
    board.at("/chosen").children.push(layout);
    board
}

/// The edit `first`, then `second`.
pub fn both(
    first: impl FnOnce(&mut TestNode),
    second: impl FnOnce(&mut TestNode),
) -> impl FnOnce(&mut TestNode) {
    move |tree| {
        first(tree);
        second(tree);
    }
}

/// The edit that sets `property` of the node at `path` to `value`.
pub fn set(
    path: &'static str,
    property: &'static str,
    value: Vec<u8>,
) -> impl FnOnce(&mut TestNode) {
    move |tree| tree.at(path).set(property, value)
}

/// The edit that removes `property` from the node at `path`.
pub fn remove(path: &'static str, property: &'static str) -> impl FnOnce(&mut TestNode) {
    move |tree| tree.at(path).remove(property)
}

/// The merged DTB of the board and the good layout after `edit`.
pub fn edited_dtb(edit: impl FnOnce(&mut TestNode)) -> Vec<u8> {
    let mut tree = merge(qemu_virt_board(), good_layout());
    edit(&mut tree);
    tree.to_dtb()
}

/// The board of `dtb` and the layout validated against it.
pub fn parse(dtb: &[u8]) -> Result<Layout, Vec<LayoutError>> {
    let board = parse_board(dtb).expect("fixture board parses");
    parse_layout(dtb, &board, RESERVED, HYPERVISOR)
}

/// The layout after `edit`; fails if it is refused.
pub fn accepted(edit: impl FnOnce(&mut TestNode)) -> Layout {
    parse(&edited_dtb(edit)).unwrap_or_else(|e| panic!("layout refused: {e:#?}"))
}

/// The errors after `edit`; fails if the layout is accepted.
pub fn errors(edit: impl FnOnce(&mut TestNode)) -> Vec<LayoutError> {
    match parse(&edited_dtb(edit)) {
        Ok(layout) => panic!("layout accepted: {layout:#?}"),
        Err(errors) => errors,
    }
}

/// Asserts that an error names exactly this node and property; returns its reason.
pub fn expect_error(errors: &[LayoutError], node: &str, property: &str) -> String {
    errors
        .iter()
        .find(|e| e.node == node && e.property == property)
        .map(|e| e.reason.clone())
        .unwrap_or_else(|| panic!("no error for {node}: {property} in {errors:#?}"))
}

/// Asserts that an error names this node and property with `fragment` in its reason.
pub fn expect_reason(errors: &[LayoutError], node: &str, property: &str, fragment: &str) {
    let found = errors
        .iter()
        .any(|e| e.node == node && e.property == property && e.reason.contains(fragment));
    assert!(
        found,
        "no error for {node}: {property}: ...{fragment}... in {errors:#?}"
    );
}

/// Asserts that the only error is this one.
pub fn expect_only_reason(errors: &[LayoutError], node: &str, property: &str, fragment: &str) {
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    expect_reason(errors, node, property, fragment);
}
