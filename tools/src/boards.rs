//! The hypervisor builds: each board's pre-DT constants and cargo feature (`crate::board::Board::build` says which a board runs).

use bulkhead_platform::Platform;

/// A board Bulkhead is built for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BoardName {
    /// QEMU virt (GICv3, SMMUv3, 4 cores, 2 GiB at 0x4000_0000): every scenario's board.
    #[default]
    QemuVirt,
    /// Raspberry Pi 4 B (BCM2711: GIC-400, spin-table cores, RAM from 0),
    /// as QEMU raspi4b models it, with Debian's bcm2711-rpi-4-b.dtb.
    Rpi4,
}

impl BoardName {
    /// The board's constants (`platform/`).
    pub fn platform(self) -> &'static Platform {
        match self {
            BoardName::QemuVirt => &bulkhead_platform::qemu_virt::PLATFORM,
            BoardName::Rpi4 => &bulkhead_platform::rpi4::PLATFORM,
        }
    }

    /// The hypervisor's cargo feature that compiles this board in.
    pub fn hypervisor_feature(self) -> Option<&'static str> {
        match self {
            BoardName::QemuVirt => None,
            BoardName::Rpi4 => Some("board-rpi4"),
        }
    }

    /// File name of the raw hypervisor image under `target/images/`.
    pub fn image_name(self) -> String {
        match self {
            BoardName::QemuVirt => "bulkhead.bin".into(),
            other => format!("bulkhead-{}.bin", other.platform().name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_platform_names() {
        use clap::ValueEnum;
        for board in BoardName::value_variants() {
            let name = board.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(name.as_deref(), Some(board.platform().name));
        }
    }
}
