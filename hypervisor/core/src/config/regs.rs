//! `reg` decoding and translation through bus `ranges` to physical addresses.

use alloc::format;
use alloc::vec::Vec;

use super::dt::{cells_to_u64, Node};
use super::error::Issue;
use crate::address::PhysRange;

/// Defaults from the devicetree specification when a bus omits them.
const DEFAULT_ADDRESS_CELLS: u32 = 2;
const DEFAULT_SIZE_CELLS: u32 = 1;
/// More cells than this cannot be a 64-bit address.
const MAX_CELLS: u32 = 4;

/// `#address-cells` and `#size-cells` of a node (for its children).
pub(crate) fn cell_counts(node: &Node<'_, '_>) -> Result<(usize, usize), Issue> {
    let read = |name: &str, default: u32| -> Result<usize, Issue> {
        let value = match node.property(name) {
            None => default,
            Some(property) => property
                .as_u32()
                .ok_or_else(|| Issue::new(node.path(), name, "must be one 32-bit cell"))?,
        };
        if value > MAX_CELLS {
            return Err(Issue::new(
                node.path(),
                name,
                format!("{value:#x} cells is more than {MAX_CELLS}"),
            ));
        }
        // Bounded by MAX_CELLS, so the conversion cannot truncate.
        Ok(value as usize)
    };
    Ok((
        read("#address-cells", DEFAULT_ADDRESS_CELLS)?,
        read("#size-cells", DEFAULT_SIZE_CELLS)?,
    ))
}

/// Splits `property` of `node` into (address, size) pairs of the given widths.
pub(crate) fn decode_pairs(
    node: &Node<'_, '_>,
    property: &str,
    address_cells: usize,
    size_cells: usize,
) -> Result<Option<Vec<(u64, u64)>>, Issue> {
    let Some(value) = node.property(property) else {
        return Ok(None);
    };
    let cells = value
        .as_cells()
        .ok_or_else(|| Issue::new(node.path(), property, "must be a list of 32-bit cells"))?;
    let entry = address_cells.saturating_add(size_cells);
    if entry == 0 {
        if cells.is_empty() {
            return Ok(Some(Vec::new()));
        }
        return Err(Issue::new(
            node.path(),
            property,
            "the parent's #address-cells and #size-cells are both 0",
        ));
    }
    if cells.len() % entry != 0 {
        return Err(Issue::new(
            node.path(),
            property,
            format!(
                "has {:#x} cells, not a multiple of {address_cells:#x} address + {size_cells:#x} size cells",
                cells.len()
            ),
        ));
    }
    let mut pairs = Vec::new();
    for chunk in cells.chunks_exact(entry) {
        let (address, size) = chunk.split_at(address_cells.min(chunk.len()));
        let too_wide = || {
            Issue::new(
                node.path(),
                property,
                "has an address or size wider than 64 bits",
            )
        };
        pairs.push((
            cells_to_u64(address).ok_or_else(too_wide)?,
            cells_to_u64(size).ok_or_else(too_wide)?,
        ));
    }
    Ok(Some(pairs))
}

/// `reg` of `node` in its parent bus's address space, untranslated.
pub(crate) fn raw_regs(node: &Node<'_, '_>) -> Result<Option<Vec<(u64, u64)>>, Issue> {
    let Some(parent) = node.parent() else {
        return Ok(None);
    };
    let (address_cells, size_cells) = cell_counts(&parent)?;
    decode_pairs(node, "reg", address_cells, size_cells)
}

/// `reg` of `node` as physical ranges, translated through every ancestor
/// bus's `ranges` (empty `ranges` = identity). `Ok(None)` without `reg`.
pub(crate) fn physical_regs(node: &Node<'_, '_>) -> Result<Option<Vec<PhysRange>>, Issue> {
    let Some(raw) = raw_regs(node)? else {
        return Ok(None);
    };
    let mut ranges = Vec::with_capacity(raw.len());
    for (address, size) in raw {
        ranges.push(translate(node, "reg", address, size)?);
    }
    Ok(Some(ranges))
}

/// The CPU-side windows of a PCI host bridge's own `ranges` (I/O and memory
/// spaces its BARs are assigned from) that a guest can reach at IPA == PA,
/// as physical ranges; empty for any other node. Windows above the stage-2
/// IPA space (QEMU virt's 64-bit window at 512 GiB) are left out here and
/// in the guest DT alike (see [`reachable_pci_ranges`]); zero-size windows
/// are skipped.
pub(crate) fn pci_windows(node: &Node<'_, '_>) -> Result<Vec<PhysRange>, Issue> {
    Ok(pci_ranges(node)?
        .into_iter()
        .filter(|(_, window)| window.size != 0 && fits_ipa_space(window))
        .map(|(_, window)| window)
        .collect())
}

/// The cells of a PCI host bridge's `ranges` without the entries whose
/// window lies outside the IPA space; `None` for any other node (or one
/// without `ranges`), whose `ranges` is copied as it is.
pub(crate) fn reachable_pci_ranges(node: &Node<'_, '_>) -> Result<Option<Vec<u32>>, Issue> {
    let entries = pci_ranges(node)?;
    if entries.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        entries
            .into_iter()
            .filter(|(_, window)| fits_ipa_space(window))
            .flat_map(|(cells, _)| cells)
            .collect(),
    ))
}

fn fits_ipa_space(window: &PhysRange) -> bool {
    window
        .end()
        .is_some_and(|end| end <= 1u64 << crate::stage2::IPA_BITS)
}

/// Each entry of a PCI host bridge's `ranges`: its cells and its CPU-side
/// window. Empty unless `device_type = "pci"` with a non-empty `ranges`.
pub(crate) fn pci_ranges(node: &Node<'_, '_>) -> Result<Vec<(Vec<u32>, PhysRange)>, Issue> {
    let is_pci = node.property("device_type").and_then(|p| p.as_str()) == Some("pci");
    let (Some(parent), true) = (node.parent(), is_pci) else {
        return Ok(Vec::new());
    };
    match node.property("ranges") {
        Some(ranges) if !ranges.value.is_empty() => {}
        _ => return Ok(Vec::new()),
    }
    let (child_cells, size_cells) = cell_counts(node)?;
    let (parent_cells, _) = cell_counts(&parent)?;
    let (cells, entry) = ranges_cells(
        node,
        child_cells
            .saturating_add(parent_cells)
            .saturating_add(size_cells),
    )?;
    let issue = |reason: &str| Issue::new(node.path(), "ranges", reason);
    let mut entries = Vec::new();
    for chunk in cells.chunks_exact(entry) {
        // The child side is a 3-cell PCI address (space code in the high
        // cell), not a number: only the CPU side and the size matter here.
        let rest = chunk.get(child_cells..).unwrap_or_default();
        let (parent_address, size) = rest.split_at(parent_cells.min(rest.len()));
        let (Some(parent_address), Some(size)) = (cells_to_u64(parent_address), cells_to_u64(size))
        else {
            return Err(issue("has an address or size wider than 64 bits"));
        };
        let window = translate(node, "ranges", parent_address, size)?;
        entries.push((chunk.to_vec(), window));
    }
    Ok(entries)
}

/// Walks `address` (of `node`'s `property`, in its parent bus's address
/// space) up to the root.
fn translate(
    node: &Node<'_, '_>,
    property: &str,
    mut address: u64,
    size: u64,
) -> Result<PhysRange, Issue> {
    let mut bus = node.parent();
    while let Some(current) = bus {
        let Some(grandparent) = current.parent() else {
            // The root's address space is the physical one.
            break;
        };
        let Some(ranges) = current.property("ranges") else {
            return Err(Issue::new(
                node.path(),
                property,
                format!(
                    "{address:#x} cannot be translated: {} has no ranges",
                    current.path()
                ),
            ));
        };
        if !ranges.value.is_empty() {
            let (child_cells, size_cells) = cell_counts(&current)?;
            let (parent_cells, _) = cell_counts(&grandparent)?;
            let entries = decode_triples(&current, child_cells, parent_cells, size_cells)?;
            let last = address.saturating_add(size.max(1) - 1);
            let hit = entries.iter().find_map(|&(child, parent, window)| {
                let window_last = child.checked_add(window.checked_sub(1)?)?;
                if address < child || last > window_last {
                    return None;
                }
                parent.checked_add(address - child)
            });
            address = hit.ok_or_else(|| {
                Issue::new(
                    node.path(),
                    property,
                    format!(
                        "{address:#x}+{size:#x} lies outside the ranges of {}",
                        current.path()
                    ),
                )
            })?;
        }
        bus = Some(grandparent);
    }
    if address.checked_add(size).is_none() {
        return Err(Issue::new(
            node.path(),
            property,
            format!("{address:#x}+{size:#x} wraps the address space"),
        ));
    }
    Ok(PhysRange::new(address, size))
}

/// The cells of `node`'s `ranges` and the length of one entry (`entry`
/// cells), checked to hold a whole number of entries.
fn ranges_cells(node: &Node<'_, '_>, entry: usize) -> Result<(Vec<u32>, usize), Issue> {
    let issue = |reason: &str| Issue::new(node.path(), "ranges", reason);
    let cells = node
        .property("ranges")
        .and_then(|p| p.as_cells())
        .ok_or_else(|| issue("must be a list of 32-bit cells"))?;
    if entry == 0 || !cells.len().is_multiple_of(entry) {
        return Err(issue(
            "has a cell count that does not match #address-cells and #size-cells",
        ));
    }
    Ok((cells, entry))
}

/// `ranges` entries (child address, parent address, size) of a bus.
fn decode_triples(
    bus: &Node<'_, '_>,
    child_cells: usize,
    parent_cells: usize,
    size_cells: usize,
) -> Result<Vec<(u64, u64, u64)>, Issue> {
    let (cells, entry) = ranges_cells(
        bus,
        child_cells
            .saturating_add(parent_cells)
            .saturating_add(size_cells),
    )?;
    let issue = |reason: &str| Issue::new(bus.path(), "ranges", reason);
    let mut triples = Vec::new();
    for chunk in cells.chunks_exact(entry) {
        let (child, rest) = chunk.split_at(child_cells.min(chunk.len()));
        let (parent, size) = rest.split_at(parent_cells.min(rest.len()));
        match (
            cells_to_u64(child),
            cells_to_u64(parent),
            cells_to_u64(size),
        ) {
            (Some(c), Some(p), Some(s)) => triples.push((c, p, s)),
            _ => return Err(issue("has an address or size wider than 64 bits")),
        }
    }
    Ok(triples)
}
