//! What a guest reads from the device tree Bulkhead passes in x0.

use fdt::Fdt;

/// The lowest and highest IPA a device tree may be read from: the identity
/// map's Normal-memory part, so a bogus x0 cannot make us read device space.
const DT_WINDOW: core::ops::Range<u64> = 0x4000_0000..0x1_0000_0000;
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
}

/// Parses the device tree at `ipa`, or `None` if there is none or it is invalid.
pub fn parse(ipa: u64) -> Option<DtInfo> {
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
    // nothing writes it while we hold the slice.
    let bytes = unsafe { core::slice::from_raw_parts(ipa as *const u8, total as usize) };
    let fdt = Fdt::new(bytes).ok()?;
    let memory_bytes = memory_regions(&fdt).map(|(_, size)| size).sum();
    let first_region = memory_regions(&fdt).next();
    Some(DtInfo {
        cpus: count_cpus(&fdt),
        memory_bytes,
        first_region,
        stdout_uart: stdout_uart(&fdt),
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

fn stdout_uart(fdt: &Fdt) -> Option<u64> {
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
    // Only the identity map's Device window may hold a UART we write to.
    (base < crate::mmu::DEVICE_WINDOW_END).then_some(base)
}
