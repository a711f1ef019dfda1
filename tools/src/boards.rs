//! The boards `--board` selects: their pre-DT constants, the hypervisor build for each, and what `check` takes.

use std::path::PathBuf;

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

/// What `check --board` names: a board (its DTB as `run` boots it, its
/// reserved areas) or a DTB file (checked with QEMU virt's reserved areas).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BoardArg {
    Named(BoardName),
    File(PathBuf),
}

impl Default for BoardArg {
    fn default() -> Self {
        BoardArg::Named(BoardName::QemuVirt)
    }
}

/// `qemu-virt`, `rpi4`, or else a path to a DTB.
pub fn parse_board_arg(text: &str) -> Result<BoardArg, String> {
    use clap::ValueEnum;
    match BoardName::from_str(text, false) {
        Ok(name) => Ok(BoardArg::Named(name)),
        Err(_) if text.ends_with(".dtb") || std::path::Path::new(text).is_file() => {
            Ok(BoardArg::File(PathBuf::from(text)))
        }
        Err(_) => Err(format!(
            "`{text}` is neither a board (qemu-virt, rpi4) nor a .dtb file"
        )),
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

    #[test]
    fn board_argument_is_a_name_or_a_file() {
        assert_eq!(
            parse_board_arg("rpi4"),
            Ok(BoardArg::Named(BoardName::Rpi4))
        );
        assert_eq!(
            parse_board_arg("x/board.dtb"),
            Ok(BoardArg::File(PathBuf::from("x/board.dtb")))
        );
        assert!(parse_board_arg("rpi5").is_err());
    }
}
