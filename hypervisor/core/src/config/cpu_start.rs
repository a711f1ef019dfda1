//! How each secondary core is started: a CPU node's `enable-method`, and whether the firmware has PSCI.
//!
//! A board DT says per core how an OS starts it: `"psci"` (a PSCI `CPU_ON`
//! call to the firmware, QEMU `virt`) or `"spin-table"` (the core spins in
//! firmware code until the 64-bit word at `cpu-release-addr` holds an entry
//! address, Raspberry Pi 4). Guests never see either: they always get
//! Bulkhead's own PSCI.

use alloc::format;
use alloc::string::String;

use super::dt::{cells_to_u64, DeviceTree, Node};
use super::error::Issue;
use crate::address::PhysAddr;

/// How the boot CPU starts one core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI `CPU_ON` through the firmware (SMC conduit).
    Psci,
    /// Write the entry address to the release word, clean it to the point of
    /// coherency and send an event; the core enters there at EL2, MMU off.
    SpinTable { release: PhysAddr },
    /// The node says nothing (usual for the boot CPU on some boards): such
    /// a core cannot be started, which matters only if a partition needs it.
    Unspecified,
}

/// The `enable-method` of a CPU node. (`/cpus` may carry one for 32-bit
/// kernels, such as the Raspberry Pi's `brcm,bcm2836-smp`: not ours.) Refuses a method Bulkhead does not implement and a
/// spin table without a 64-bit `cpu-release-addr`.
pub(crate) fn enable_method(cpu: &Node<'_, '_>) -> Result<EnableMethod, Issue> {
    let Some(property) = cpu.property("enable-method") else {
        return Ok(EnableMethod::Unspecified);
    };
    let methods = property
        .as_str_list()
        .ok_or_else(|| Issue::new(cpu.path(), "enable-method", "must be a list of strings"))?;
    // A node may list several methods, best first; take the first we know.
    if methods.contains(&"psci") {
        return Ok(EnableMethod::Psci);
    }
    if methods.contains(&"spin-table") {
        return release_address(cpu).map(|release| EnableMethod::SpinTable { release });
    }
    Err(Issue::new(
        cpu.path(),
        "enable-method",
        format!(
            "{}: Bulkhead starts cores by \"psci\" or \"spin-table\" only",
            quoted(&methods)
        ),
    ))
}

/// `cpu-release-addr`: always two cells (a 64-bit physical address), whatever
/// `#address-cells` says, by the devicetree specification; 8-byte aligned,
/// since it is written as one 64-bit word.
fn release_address(cpu: &Node<'_, '_>) -> Result<PhysAddr, Issue> {
    let issue = |reason: &str| Issue::new(cpu.path(), "cpu-release-addr", reason);
    let cells = cpu
        .property("cpu-release-addr")
        .ok_or_else(|| issue("is missing: a \"spin-table\" core needs its release address"))?
        .as_cells()
        .ok_or_else(|| issue("must be two 32-bit cells"))?;
    if cells.len() != 2 {
        return Err(issue("must be two 32-bit cells (a 64-bit address)"));
    }
    let address = cells_to_u64(&cells).ok_or_else(|| issue("must be a 64-bit address"))?;
    if !address.is_multiple_of(8) {
        return Err(Issue::new(
            cpu.path(),
            "cpu-release-addr",
            format!("{address:#x} is not 8-byte aligned"),
        ));
    }
    Ok(PhysAddr(address))
}

fn quoted(methods: &[&str]) -> String {
    let mut text = String::new();
    for (index, method) in methods.iter().enumerate() {
        if index > 0 {
            text.push_str(", ");
        }
        text.push('"');
        text.push_str(method);
        text.push('"');
    }
    text
}

/// Whether the firmware implements PSCI through the SMC conduit: a node
/// compatible with `arm,psci*` whose `method` is `"smc"`. A `"hvc"` conduit
/// is refused: Bulkhead itself is the hypervisor, nothing above it answers.
pub(crate) fn firmware_psci(tree: &DeviceTree<'_>) -> Result<bool, Issue> {
    let node = tree.nodes().find(|node| {
        node.is_compatible("arm,psci")
            || node.is_compatible("arm,psci-0.2")
            || node.is_compatible("arm,psci-1.0")
    });
    let Some(node) = node else {
        return Ok(false);
    };
    match node.property("method").and_then(|method| method.as_str()) {
        Some("smc") => Ok(true),
        Some("hvc") => Err(Issue::new(
            node.path(),
            "method",
            "\"hvc\": Bulkhead runs at EL2 and reaches the firmware by SMC only",
        )),
        Some(other) => Err(Issue::new(
            node.path(),
            "method",
            format!("\"{other}\" is not a PSCI conduit (\"smc\" or \"hvc\")"),
        )),
        None => Err(Issue::new(node.path(), "method", "is missing")),
    }
}

/// The Broadcom power-management block whose watchdog powers a Raspberry
/// Pi off (`brcm,bcm2835-pm-wdt`, or `brcm,bcm2835-pm`/`brcm,bcm2711-pm`):
/// its first `reg`, translated to a physical range. Boards without PSCI use
/// it as Linux does: reset status "partition 63", then a full reset, which
/// the firmware (and QEMU raspi) take as "halt".
pub fn bcm2835_power_manager(
    dtb: &[u8],
) -> Result<Option<crate::address::PhysRange>, super::BoardError> {
    let tree = DeviceTree::parse(dtb)?;
    let node = tree.nodes().find(|node| {
        node.is_compatible("brcm,bcm2835-pm-wdt")
            || node.is_compatible("brcm,bcm2835-pm")
            || node.is_compatible("brcm,bcm2711-pm")
    });
    let Some(node) = node else {
        return Ok(None);
    };
    let regs = super::regs::physical_regs(&node)?.unwrap_or_default();
    match regs.first() {
        Some(range) if range.size >= 0x28 => Ok(Some(*range)),
        _ => Err(Issue::new(
            node.path(),
            "reg",
            "must start with the power-management registers (at least 0x28 bytes: RSTC, RSTS, WDOG)",
        )
        .into()),
    }
}
