//! Which firmware starts Bulkhead in each scenario: QEMU itself, or U-Boot.
//!
//! Everything boots the way QEMU boots a Linux Image (`-kernel`, entered at
//! EL2 with x0 = the merged DTB, modules placed by QEMU's loader) unless
//! listed here. The listed scenarios boot Debian's U-Boot as the machine's
//! firmware, which loads Bulkhead, the layout and the modules from a disk and
//! starts Bulkhead with `booti`, as on a board.

/// What the U-Boot boot script prints, followed by the `compatible` it
/// reads back from `/chosen/bulkhead` in the DT it is about to pass to Bulkhead.
pub const UBOOT_LAYOUT_MARKER: &str = "bulkhead-boot: layout applied, compatible=";

/// What starts Bulkhead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// No firmware: QEMU loads Bulkhead and the modules and enters it at EL2.
    None,
    /// Debian's U-Boot (`u-boot-qemu`, qemu_arm64) at EL2 as `-bios`.
    UBoot,
}

impl Firmware {
    /// The name `cargo xtask run --firmware` takes.
    pub const fn name(self) -> &'static str {
        match self {
            Firmware::None => "none",
            Firmware::UBoot => "u-boot",
        }
    }

    pub fn from_name(name: &str) -> Option<Firmware> {
        ALL.into_iter().find(|firmware| firmware.name() == name)
    }
}

/// Every firmware, the default first.
pub const ALL: [Firmware; 2] = [Firmware::None, Firmware::UBoot];

/// The scenarios that boot through a firmware.
const TABLE: &[(&str, Firmware)] = &[("uboot_demo", Firmware::UBoot)];

/// The firmware scenario `name` boots through.
pub fn firmware(name: &str) -> Firmware {
    TABLE
        .iter()
        .find(|(listed, _)| *listed == name)
        .map_or(Firmware::None, |(_, firmware)| *firmware)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for firmware in ALL {
            assert_eq!(Firmware::from_name(firmware.name()), Some(firmware));
        }
        assert_eq!(Firmware::from_name("uefi"), None);
        assert_eq!(firmware("linux_boot"), Firmware::None);
        assert_eq!(firmware("uboot_demo"), Firmware::UBoot);
    }

    #[test]
    fn every_entry_names_a_scenario() {
        let scenarios = crate::all();
        for (name, _) in TABLE {
            assert!(
                scenarios.iter().any(|s| s.name == *name),
                "{name} is in the firmware table but is not a scenario"
            );
        }
    }
}
