//! A device's interrupts as GIC INTIDs, from `interrupts`, `interrupts-extended` and `interrupt-map`.

use alloc::format;
use alloc::vec::Vec;

use super::dt::{DeviceTree, Node};
use super::error::Issue;
use super::regs::cell_counts;

/// First SPI INTID; SPI n is INTID 32 + n.
const SPI_BASE: u32 = 32;
/// First PPI INTID; PPI n is INTID 16 + n.
const PPI_BASE: u32 = 16;
/// SPIs end at INTID 1019 (1020..1023 are special).
const SPI_COUNT: u32 = 988;
const PPI_COUNT: u32 = 16;
/// Interrupt-parent chains longer than this are treated as loops.
const MAX_PARENT_HOPS: usize = 64;

/// The INTIDs of `node`'s interrupts that go to `gic`, in order, without
/// duplicates: its own (`interrupts-extended` or `interrupts`), then those of
/// its `interrupt-map` (a PCI host's INTx lines). Interrupts wired to
/// another controller are not decoded.
pub(crate) fn device_interrupts(
    tree: &DeviceTree<'_>,
    node: &Node<'_, '_>,
    gic: Option<&Node<'_, '_>>,
) -> Result<Vec<u32>, Issue> {
    let mut intids = own_interrupts(tree, node, gic)?;
    let name = "interrupt-map";
    for entry in interrupt_map(tree, node)? {
        if gic.is_some_and(|g| g.id() == entry.parent) {
            decode(node, name, &entry.parent_specifier, &mut intids)?;
        }
    }
    Ok(intids)
}

/// One `interrupt-map` entry: a child interrupt and where it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MapEntry {
    /// Child unit address then child interrupt specifier, verbatim.
    pub child: Vec<u32>,
    /// Node id of the interrupt parent.
    pub parent: usize,
    /// Parent interrupt specifier (its `#interrupt-cells`).
    pub parent_specifier: Vec<u32>,
}

/// The entries of `node`'s `interrupt-map` (empty without one). The child
/// part is `#address-cells` + `#interrupt-cells` of `node`; each parent part
/// is sized by the parent the entry's phandle names.
pub(crate) fn interrupt_map(
    tree: &DeviceTree<'_>,
    node: &Node<'_, '_>,
) -> Result<Vec<MapEntry>, Issue> {
    let name = "interrupt-map";
    let Some(property) = node.property(name) else {
        return Ok(Vec::new());
    };
    let issue = |reason: &str| Issue::new(node.path(), name, reason);
    let cells = property
        .as_cells()
        .ok_or_else(|| issue("must be a list of 32-bit cells"))?;
    let (address_cells, _) = cell_counts(node)?;
    let child_cells = address_cells.saturating_add(interrupt_cells(node)?);
    let mut entries = Vec::new();
    let mut rest = cells.as_slice();
    while !rest.is_empty() {
        let (child, after) = rest
            .split_at_checked(child_cells)
            .ok_or_else(|| issue("ends inside a child unit address or specifier"))?;
        let (&phandle, after) = after
            .split_first()
            .ok_or_else(|| issue("ends before an interrupt parent phandle"))?;
        let parent = tree.by_phandle(phandle).ok_or_else(|| {
            Issue::new(
                node.path(),
                name,
                format!("phandle {phandle:#x} names no node"),
            )
        })?;
        let parent_address_cells = match parent.property("#address-cells") {
            None => 0,
            Some(_) => cell_counts(&parent)?.0,
        };
        // The parent unit address is skipped: only the specifier matters here.
        let (_, after) = after
            .split_at_checked(parent_address_cells)
            .ok_or_else(|| issue("ends inside a parent unit address"))?;
        let (parent_specifier, after) = after
            .split_at_checked(interrupt_cells(&parent)?)
            .ok_or_else(|| issue("ends inside a parent interrupt specifier"))?;
        entries.push(MapEntry {
            child: child.to_vec(),
            parent: parent.id(),
            parent_specifier: parent_specifier.to_vec(),
        });
        rest = after;
    }
    Ok(entries)
}

/// `node`'s own interrupts (not those it maps for children).
fn own_interrupts(
    tree: &DeviceTree<'_>,
    node: &Node<'_, '_>,
    gic: Option<&Node<'_, '_>>,
) -> Result<Vec<u32>, Issue> {
    let mut intids = Vec::new();
    if let Some(property) = node.property("interrupts-extended") {
        let name = "interrupts-extended";
        let cells = property
            .as_cells()
            .ok_or_else(|| Issue::new(node.path(), name, "must be a list of 32-bit cells"))?;
        let mut rest = cells.as_slice();
        while let Some((&phandle, after)) = rest.split_first() {
            let controller = tree.by_phandle(phandle).ok_or_else(|| {
                Issue::new(
                    node.path(),
                    name,
                    format!("phandle {phandle:#x} names no node"),
                )
            })?;
            let count = interrupt_cells(&controller)?;
            let (specifier, after) = after.split_at_checked(count).ok_or_else(|| {
                Issue::new(node.path(), name, "ends inside an interrupt specifier")
            })?;
            if gic.is_some_and(|g| g.id() == controller.id()) {
                decode(node, name, specifier, &mut intids)?;
            }
            rest = after;
        }
        return Ok(intids);
    }
    let Some(property) = node.property("interrupts") else {
        return Ok(intids);
    };
    let name = "interrupts";
    let cells = property
        .as_cells()
        .ok_or_else(|| Issue::new(node.path(), name, "must be a list of 32-bit cells"))?;
    let parent = interrupt_parent(tree, node)?;
    if gic.is_none_or(|g| g.id() != parent.id()) {
        return Ok(intids);
    }
    let count = interrupt_cells(&parent)?;
    if cells.len() % count != 0 {
        return Err(Issue::new(
            node.path(),
            name,
            format!(
                "has {:#x} cells, not a multiple of the GIC's #interrupt-cells ({count:#x})",
                cells.len()
            ),
        ));
    }
    for specifier in cells.chunks_exact(count) {
        decode(node, name, specifier, &mut intids)?;
    }
    Ok(intids)
}

/// The controller a node's `interrupts` go to: the nearest `interrupt-parent`
/// on the node or an ancestor, else the tree parent.
fn interrupt_parent<'t, 'a>(
    tree: &'t DeviceTree<'a>,
    node: &Node<'t, 'a>,
) -> Result<Node<'t, 'a>, Issue> {
    let mut current = Some(*node);
    let mut hops = 0;
    while let Some(n) = current {
        if let Some(property) = n.property("interrupt-parent") {
            let phandle = property.as_u32().ok_or_else(|| {
                Issue::new(n.path(), "interrupt-parent", "must be one phandle cell")
            })?;
            return tree.by_phandle(phandle).ok_or_else(|| {
                Issue::new(
                    n.path(),
                    "interrupt-parent",
                    format!("phandle {phandle:#x} names no node"),
                )
            });
        }
        hops += 1;
        if hops > MAX_PARENT_HOPS {
            break;
        }
        current = n.parent();
    }
    node.parent()
        .ok_or_else(|| Issue::new(node.path(), "interrupts", "has no interrupt-parent"))
}

/// `#interrupt-cells` of a controller: at least one.
pub(crate) fn interrupt_cells(controller: &Node<'_, '_>) -> Result<usize, Issue> {
    let count = controller.u32_property("#interrupt-cells").ok_or_else(|| {
        Issue::new(
            controller.path(),
            "#interrupt-cells",
            "is missing or not one cell",
        )
    })?;
    match usize::try_from(count) {
        Ok(count @ 1..=16) => Ok(count),
        _ => Err(Issue::new(
            controller.path(),
            "#interrupt-cells",
            format!("{count:#x} is not between 1 and 16"),
        )),
    }
}

/// The INTID of a GIC specifier's `<type number>`: type 0 = SPI, 1 = PPI.
pub(crate) fn gic_intid(kind: u32, number: u32) -> Option<u32> {
    match kind {
        0 if number < SPI_COUNT => Some(SPI_BASE + number),
        1 if number < PPI_COUNT => Some(PPI_BASE + number),
        _ => None,
    }
}

/// A GIC specifier `<type number flags ...>`: type 0 = SPI, 1 = PPI.
fn decode(
    node: &Node<'_, '_>,
    property: &str,
    specifier: &[u32],
    intids: &mut Vec<u32>,
) -> Result<(), Issue> {
    let (kind, number) = match specifier {
        [kind, number, ..] => (*kind, *number),
        _ => {
            return Err(Issue::new(
                node.path(),
                property,
                "GIC specifiers need at least 2 cells",
            ))
        }
    };
    let Some(intid) = gic_intid(kind, number) else {
        return Err(Issue::new(
            node.path(),
            property,
            format!("GIC interrupt <{kind:#x} {number:#x}> is not a valid SPI or PPI"),
        ));
    };
    if !intids.contains(&intid) {
        intids.push(intid);
    }
    Ok(())
}
