//! Naming the board's interrupt controller when it is not one this build drives.

use alloc::string::String;

use super::dt::DeviceTree;

/// The root interrupt controller (the node the root's `interrupt-parent`
/// names, or failing that the first `interrupt-controller` with no parent
/// controller of its own), as its path and first `compatible` string.
/// Used to say which GIC a board has when [`super::Board::gic`] is `None`.
pub fn root_interrupt_controller(dtb: &[u8]) -> Option<(String, String)> {
    let tree = DeviceTree::parse(dtb).ok()?;
    let by_parent = tree
        .root()
        .and_then(|root| root.u32_property("interrupt-parent"))
        .and_then(|phandle| tree.by_phandle(phandle));
    let node = by_parent.or_else(|| {
        tree.nodes().find(|node| {
            node.property("interrupt-controller").is_some()
                && node.property("interrupts-extended").is_none()
                && node.property("interrupt-parent").is_none()
        })
    })?;
    let compatible = node
        .property("compatible")
        .and_then(|property| property.as_str_list())
        .and_then(|list| list.first().map(|first| String::from(*first)))
        .unwrap_or_default();
    Some((node.path(), compatible))
}
