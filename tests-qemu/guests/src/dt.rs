//! What a guest reads from the device tree Bulkhead passes in x0.

use fdt::Fdt;

/// The lowest and highest IPA a device tree may be read from: the identity
/// map's Normal-memory part, so a bogus x0 cannot make us read device space.
const DT_WINDOW: core::ops::Range<u64> = 0x4000_0000..crate::mmu::TOP_DEVICE_WINDOW.start;
/// Largest device tree accepted (Bulkhead keeps it in a 2 MiB window).
const DT_MAX_BYTES: u32 = 2 << 20;
/// FDT header magic.
const FDT_MAGIC: u32 = 0xd00d_feed;

/// The facts guests use from their device tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct DtInfo {
    /// `/cpus/cpu@*` nodes.
    pub cpus: u64,
    /// Sum of every memory node's sizes.
    pub memory_bytes: u64,
    /// The first memory region listed: (IPA, size).
    pub first_region: Option<(u64, u64)>,
    /// Base of the PL011 `/chosen/stdout-path` names, if any.
    pub stdout_uart: Option<u64>,
    /// That PL011's interrupt as a GIC INTID, if its node gives one.
    pub stdout_uart_intid: Option<u32>,
    /// The GIC node's distributor and first redistributor (GICv3) or CPU interface (GICv2).
    pub gic: Option<crate::gic::Gic>,
    /// A BCM2835 mini UART (`brcm,bcm2835-aux-uart`, the Raspberry Pi's
    /// UART1) given to the partition: its registers' IPA and its INTID.
    pub mini_uart: Option<(u64, Option<u32>)>,
}

impl DtInfo {
    /// The stdout PL011 if it is a device of the partition's own, not
    /// Bulkhead's virtual one (what a partition given no PL011 gets).
    pub fn own_stdout_uart(&self) -> Option<u64> {
        self.stdout_uart
            .filter(|&base| base != crate::console::VIRTUAL_UART)
    }
}

/// The device tree at `ipa`, if there is a valid one: the checks every
/// reader of x0's blob needs before trusting it.
pub fn blob(ipa: u64) -> Option<Fdt<'static>> {
    if ipa == 0 || !ipa.is_multiple_of(8) || !DT_WINDOW.contains(&ipa) {
        return None;
    }
    // SAFETY: `ipa` lies in the identity-mapped Normal memory window and is
    // 8-byte aligned; the header is read before any length is trusted.
    let (magic, total) = unsafe {
        let header = ipa as *const u32;
        (
            u32::from_be(core::ptr::read_volatile(header)),
            u32::from_be(core::ptr::read_volatile(header.add(1))),
        )
    };
    if magic != FDT_MAGIC
        || total > DT_MAX_BYTES
        || ipa.checked_add(u64::from(total))? > DT_WINDOW.end
    {
        return None;
    }
    // SAFETY: the blob's `total` bytes lie inside the window checked above,
    // which the partition's memory covers when Bulkhead put the blob there;
    // nothing writes it while the guest runs (it lives in the reserved last
    // 2 MiB of the first region).
    let bytes = unsafe { core::slice::from_raw_parts(ipa as *const u8, total as usize) };
    Fdt::new(bytes).ok()
}

/// Parses the device tree at `ipa`, or `None` if there is none or it is invalid.
pub fn parse(ipa: u64) -> Option<DtInfo> {
    let fdt = blob(ipa)?;
    let memory_bytes = memory_regions(&fdt).map(|(_, size)| size).sum();
    let first_region = memory_regions(&fdt).next();
    Some(DtInfo {
        cpus: count_cpus(&fdt),
        memory_bytes,
        first_region,
        stdout_uart: stdout_uart(&fdt).map(|(base, _)| base),
        stdout_uart_intid: stdout_uart(&fdt).and_then(|(_, intid)| intid),
        gic: gic(&fdt),
        mini_uart: device_by_compatible(&fdt, crate::mini_uart::COMPATIBLE),
    })
}

fn count_cpus(fdt: &Fdt) -> u64 {
    fdt.find_node("/cpus")
        .map(|cpus| {
            cpus.children()
                .filter(|node| node.name == "cpu" || node.name.starts_with("cpu@"))
                .count() as u64
        })
        .unwrap_or(0)
}

/// (IPA, size) of every memory node's regions, in device-tree order.
fn memory_regions<'a>(fdt: &'a Fdt<'a>) -> impl Iterator<Item = (u64, u64)> + 'a {
    fdt.find_node("/")
        .into_iter()
        .flat_map(|root| root.children())
        .filter(|node| node.property("device_type").and_then(|p| p.as_str()) == Some("memory"))
        .flat_map(|node| node.reg().into_iter().flatten())
        .map(|region| {
            (
                region.starting_address as u64,
                region.size.unwrap_or(0) as u64,
            )
        })
}

/// The GICv3 node's first two `reg` regions, if both lie in a Device window.
fn gic(fdt: &Fdt) -> Option<crate::gic::Gic> {
    let device = crate::mmu::is_device;
    if let Some(node) = fdt.find_compatible(&["arm,gic-v3"]) {
        let mut regions = node.reg()?;
        let distributor = regions.next()?.starting_address as u64;
        let redistributors = regions.next()?.starting_address as u64;
        return (device(distributor) && device(redistributors)).then_some(crate::gic::Gic {
            distributor,
            redistributors,
            cpu_interface: None,
        });
    }
    let node = fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400"])?;
    let mut regions = node.reg()?;
    let distributor = regions.next()?.starting_address as u64;
    let cpu_interface = regions.next()?.starting_address as u64;
    (device(distributor) && device(cpu_interface)).then_some(crate::gic::Gic {
        distributor,
        redistributors: crate::gic::DEFAULT_REDISTRIBUTORS,
        cpu_interface: Some(cpu_interface),
    })
}

/// The INTID of a node's first GIC interrupt specifier (three cells: type,
/// number, flags; type 0 is an SPI, 1 a PPI).
fn first_intid(node: &fdt::node::FdtNode) -> Option<u32> {
    let cells = node.property("interrupts")?.value;
    let cell = |index: usize| -> Option<u32> {
        let bytes = cells.get(index * 4..index * 4 + 4)?;
        Some(u32::from_be_bytes(bytes.try_into().ok()?))
    };
    let number = cell(1)?;
    match cell(0)? {
        0 => number.checked_add(crate::gic::FIRST_SPI),
        1 => number.checked_add(16),
        _ => None,
    }
}

/// The stdout PL011's base and INTID.
fn stdout_uart(fdt: &Fdt) -> Option<(u64, Option<u32>)> {
    let chosen = fdt.find_node("/chosen")?;
    let path = chosen.property("stdout-path")?.as_str()?;
    let path = path.split(':').next()?;
    let path = if path.starts_with('/') {
        path
    } else {
        fdt.find_node("/aliases")?.property(path)?.as_str()?
    };
    let node = fdt.find_node(path)?;
    let is_pl011 = node
        .compatible()
        .is_some_and(|compatible| compatible.all().any(|c| c == "arm,pl011"));
    if !is_pl011 {
        return None;
    }
    let base = node.reg()?.next()?.starting_address as u64;
    // Only the identity map's Device windows may hold a UART we write to.
    crate::mmu::is_device(base).then_some((base, first_intid(&node)))
}

/// The number after `key=` in the `/chosen/bootargs` of the DT at `ipa`
/// (decimal, or hexadecimal after `0x`: layouts give addresses that way).
pub fn bootarg_u64(ipa: u64, key: &str) -> Option<u64> {
    let args = blob(ipa)?
        .find_node("/chosen")?
        .property("bootargs")?
        .as_str()?;
    let value = args
        .split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))?;
    match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// The first node compatible with `compatible`, at the root or on a bus
/// right under it (as Bulkhead copies board devices): its first `reg`
/// address translated through the bus's `ranges`, if that lands in a Device
/// window of the identity map, and its first interrupt.
fn device_by_compatible(fdt: &Fdt, compatible: &str) -> Option<(u64, Option<u32>)> {
    let matches = |node: &fdt::node::FdtNode| {
        node.compatible()
            .is_some_and(|list| list.all().any(|c| c == compatible))
    };
    let root = fdt.find_node("/")?;
    let (bus, node) = root.children().find_map(|child| {
        if matches(&child) {
            return Some((None, child));
        }
        child
            .children()
            .find(|grandchild| matches(grandchild))
            .map(|grandchild| (Some(child), grandchild))
    })?;
    let address = node.reg()?.next()?.starting_address as u64;
    let address = match bus {
        Some(bus) => translate(&root, &bus, address)?,
        None => address,
    };
    crate::mmu::is_device(address).then_some((address, first_intid(&node)))
}

/// `address` on `bus` as its parent (the root) sees it, through the bus's
/// `ranges` (empty `ranges`: the identity; none: not translatable).
fn translate(root: &fdt::node::FdtNode, bus: &fdt::node::FdtNode, address: u64) -> Option<u64> {
    let cells = |node: &fdt::node::FdtNode, name: &str, default: usize| {
        node.property(name)
            .and_then(|p| p.as_usize())
            .unwrap_or(default)
    };
    let child_cells = cells(bus, "#address-cells", 2);
    let size_cells = cells(bus, "#size-cells", 1);
    let parent_cells = cells(root, "#address-cells", 2);
    let ranges = bus.property("ranges")?.value;
    if ranges.is_empty() {
        return Some(address);
    }
    let entry_cells = child_cells + parent_cells + size_cells;
    if entry_cells == 0 || child_cells > 2 || parent_cells > 2 || size_cells > 2 {
        return None;
    }
    // A big-endian number of `count` cells starting at cell `first`.
    let number = |entry: &[u8], first: usize, count: usize| {
        (first..first + count).try_fold(0u64, |value, index| {
            let bytes = entry.get(index * 4..index * 4 + 4)?;
            Some(value << 32 | u64::from(u32::from_be_bytes(bytes.try_into().ok()?)))
        })
    };
    ranges.chunks_exact(entry_cells * 4).find_map(|entry| {
        let child = number(entry, 0, child_cells)?;
        let parent = number(entry, child_cells, parent_cells)?;
        let size = number(entry, child_cells + parent_cells, size_cells)?;
        let offset = address.checked_sub(child)?;
        if offset < size {
            parent.checked_add(offset)
        } else {
            None
        }
    })
}
