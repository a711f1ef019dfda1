//! The one place QEMU command lines are built: boots and board DTB dumps share the machine.

use std::path::{Path, PathBuf};

use bulkhead_scenarios::CpuModel;

use crate::artifacts::LoadedModule;
use crate::board::Board;

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-aarch64";

// The machine (`-M`) of every boot and board DTB dump is [`Board::machine`]:
// the merged DTB only describes the machine truly if both use exactly the
// same options.
const CPUS: &str = "4";
const MEMORY: &str = "2G";

/// `-cpu` and the `-M` suboptions a CPU model needs: `max` implements MTE,
/// which exists only with the machine's tag memory (`mte=on`).
fn cpu_options(cpu: CpuModel) -> (&'static str, &'static str) {
    match cpu {
        CpuModel::Max => ("max", ",mte=on"),
        other => (other.name(), ""),
    }
}

/// Deterministic instruction counting: one instruction per nanosecond of virtual time.
const ICOUNT: &str = "shift=0,align=off,sleep=off";

/// The PCI functions of the default board, on the root bus. Each slot is in
/// a different INTx swizzle group (virt: SPI = 3 + ((pin - 1) + slot) % 4),
/// so with pin A: 00:02.0 -> SPI 5 (INTID 37), 00:03.0 -> SPI 6 (INTID 38),
/// 00:04.0 -> SPI 3 (INTID 35). `edu` is QEMU's PCI DMA engine (the stand-in
/// accelerator; its default DMA mask is 28 bits); the virtio disk only goes
/// through the SMMU with `iommu_platform=on`.
pub const PCI_EDU_SLOTS: [u8; 2] = [2, 3];
pub const PCI_DISK_SLOT: u8 = 4;

/// `-device`/`-drive` options of the PCI functions; `disk` backs the virtio disk.
fn pci_device_args(disk: &Path) -> Vec<String> {
    let mut args = Vec::new();
    for slot in PCI_EDU_SLOTS {
        args.push("-device".to_string());
        args.push(format!(
            "edu,bus=pcie.0,addr={slot:#04x}.0,dma_mask=0xffffffffffffffff"
        ));
    }
    args.push("-drive".to_string());
    args.push(format!(
        "if=none,id=disk0,format=raw,readonly=on,file={}",
        escape(disk)
    ));
    args.push("-device".to_string());
    args.push(format!(
        "virtio-blk-pci,drive=disk0,bus=pcie.0,addr={PCI_DISK_SLOT:#04x}.0,iommu_platform=on,disable-legacy=on"
    ));
    args
}

/// Debian's U-Boot for QEMU's `virt` (package `u-boot-qemu`), built to run at
/// EL2 or EL3 from the machine's flash.
pub const UBOOT_QEMU_ARM64: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// What puts Bulkhead, its DTB and the modules in memory and enters Bulkhead.
#[derive(Clone, Copy, Debug)]
pub enum Loader<'a> {
    /// QEMU itself: `kernel` as a Linux Image entered at EL2 with x0 = `dtb`,
    /// `modules` by the generic loader.
    Direct,
    /// U-Boot as the machine's firmware (`-bios`), loading everything from
    /// `disk`. The disk is a virtio-mmio device: the board's DT lists the
    /// virtio-mmio slots whether or not they are used, so the DT and the PCI
    /// functions are exactly those of every other boot.
    UBoot { disk: &'a Path },
}

/// Everything one boot needs.
#[derive(Clone, Debug)]
pub struct BootConfig<'a> {
    /// Raw hypervisor image (loaded as a Linux Image, entered at EL2 with x0 = DTB).
    pub kernel: &'a Path,
    /// Board DTB with the layout merged in.
    pub dtb: &'a Path,
    /// Guest images for QEMU's generic loader.
    pub modules: &'a [LoadedModule],
    /// With [`Loader::UBoot`], `kernel`, `dtb` and `modules` are on its disk instead.
    pub loader: Loader<'a>,
    /// Files that receive what UART0 (0x0900_0000) and UART1 (0x0904_0000) print.
    pub uart_logs: [PathBuf; 2],
    /// A FIFO whose bytes QEMU feeds to UART0's receiver (Bulkhead's console input).
    pub uart0_input: Option<PathBuf>,
    /// Add `-icount` (see [`ICOUNT`]).
    pub icount: bool,
    /// Raw image behind the virtio-blk PCI function.
    pub disk: &'a Path,
    pub cpu: CpuModel,
    pub board: Board,
}

/// QEMU option values are comma-separated; a literal comma is written twice.
fn escape(value: &Path) -> String {
    value.display().to_string().replace(',', ",,")
}

/// The options that define the machine, with extra `-M` suboptions appended.
fn machine_args(machine_suffix: &str, board: Board, cpu: CpuModel) -> Vec<String> {
    let (cpu, cpu_machine) = cpu_options(cpu);
    [
        "-M",
        &format!("{}{cpu_machine}{machine_suffix}", board.machine()),
        "-cpu",
        cpu,
        "-smp",
        CPUS,
        "-m",
        MEMORY,
        "-nic",
        "none",
        "-display",
        "none",
        "-monitor",
        "none",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect()
}

/// Arguments (after the program name) to boot Bulkhead with its layout and modules.
pub fn boot_args(config: &BootConfig<'_>) -> Vec<String> {
    let mut args = machine_args("", config.board, config.cpu);
    args.extend(pci_device_args(config.disk));
    for (index, log) in config.uart_logs.iter().enumerate() {
        args.push("-serial".into());
        match &config.uart0_input {
            Some(input) if index == 0 => {
                // A file chardev that also reads its input from the FIFO.
                args.push("chardev:uart0".into());
                args.push("-chardev".into());
                args.push(format!(
                    "file,id=uart0,path={},input-path={}",
                    escape(log),
                    escape(input)
                ));
            }
            _ => args.push(format!("file:{}", escape(log))),
        }
    }
    match config.loader {
        Loader::Direct => {
            args.push("-kernel".into());
            args.push(config.kernel.display().to_string());
            args.push("-dtb".into());
            args.push(config.dtb.display().to_string());
            for module in config.modules {
                args.push("-device".into());
                args.push(format!(
                    "loader,file={},addr={:#x},force-raw=on",
                    escape(&module.path),
                    module.address
                ));
            }
        }
        Loader::UBoot { disk } => {
            args.push("-bios".into());
            args.push(UBOOT_QEMU_ARM64.into());
            args.push("-drive".into());
            args.push(format!(
                "if=none,id=firmware-disk,format=raw,readonly=on,file={}",
                escape(disk)
            ));
            args.push("-device".into());
            args.push("virtio-blk-device,drive=firmware-disk".into());
        }
    }
    if config.icount {
        args.push("-icount".into());
        args.push(ICOUNT.into());
    }
    args
}

/// A boot without Bulkhead, for comparisons: the guest enters at EL1 on the
/// same CPU model and GIC, with QEMU generating the DT as for any Linux kernel.
#[derive(Clone, Debug)]
pub struct BareConfig {
    /// Raw image loaded as a Linux Image (a test guest or Debian's kernel).
    pub kernel: PathBuf,
    pub initrd: Option<PathBuf>,
    /// Kernel command line (QEMU puts it in the DT's `/chosen/bootargs`).
    pub append: Option<String>,
    pub cpus: u32,
    pub memory_mib: u32,
    pub uart_logs: [PathBuf; 2],
    pub icount: bool,
    /// Raw image behind the virtio-blk PCI function (bare boots keep the same devices).
    pub disk: PathBuf,
    pub cpu: CpuModel,
    /// The board whose GIC the bare machine has ([`Board::bare_machine`]).
    pub board: Board,
}

/// Arguments (after the program name) to boot a guest bare on QEMU.
pub fn bare_args(config: &BareConfig) -> Vec<String> {
    let (cpu, cpu_machine) = cpu_options(config.cpu);
    let mut args: Vec<String> = [
        "-M",
        &format!("{}{cpu_machine}", config.board.bare_machine()),
        "-cpu",
        cpu,
        "-smp",
        &config.cpus.to_string(),
        "-m",
        &format!("{}M", config.memory_mib),
        "-nic",
        "none",
        "-display",
        "none",
        "-monitor",
        "none",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .collect();
    args.extend(pci_device_args(&config.disk));
    for log in &config.uart_logs {
        args.push("-serial".into());
        args.push(format!("file:{}", escape(log)));
    }
    args.push("-kernel".into());
    args.push(config.kernel.display().to_string());
    if let Some(initrd) = &config.initrd {
        args.push("-initrd".into());
        args.push(initrd.display().to_string());
    }
    if let Some(append) = &config.append {
        args.push("-append".into());
        args.push(append.clone());
    }
    if config.icount {
        args.push("-icount".into());
        args.push(ICOUNT.into());
    }
    args
}

/// Arguments to write the board DTB QEMU generates for the same machine to
/// `out`, then exit. PCI functions are not in a DT (they are enumerated), so
/// the dump leaves them out.
pub fn dumpdtb_args(out: &Path, board: Board, cpu: CpuModel) -> Vec<String> {
    let mut args = machine_args(&format!(",dumpdtb={}", escape(out)), board, cpu);
    // The two PL011s exist whatever -serial says; keep stdio quiet.
    args.extend(["-serial", "null", "-serial", "null"].map(String::from));
    args
}

/// A shell-pasteable rendering, for messages.
pub fn display(args: &[String]) -> String {
    let mut line = QEMU.to_string();
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    line
}

/// QEMU's Raspberry Pi 4 B (2 GiB, 4 cortex-a72, GIC-400 with the
/// virtualization extensions). Its RAM and core count are fixed by the
/// machine (no `-m`, no `-smp`); `-kernel` is entered at EL2 (secondaries
/// on QEMU's spin table at 0xd8), and QEMU generates no DT: `-dtb` is the
/// board's own, whose memory node QEMU fills in (960 MiB below the
/// VideoCore's share with the default 2 GiB).
const RASPI4B: &str = "raspi4b";

/// Arguments to boot Bulkhead on `raspi4b`: UART0 (PL011) to `uart_logs[0]`,
/// the mini UART to `uart_logs[1]`, the modules by the generic loader.
pub fn raspi4b_boot_args(
    kernel: &Path,
    dtb: &Path,
    modules: &[LoadedModule],
    uart_logs: &[PathBuf; 2],
) -> Vec<String> {
    let mut args: Vec<String> = ["-M", RASPI4B, "-display", "none", "-monitor", "none"]
        .map(String::from)
        .to_vec();
    for log in uart_logs {
        args.push("-serial".into());
        args.push(format!("file:{}", escape(log)));
    }
    args.extend([
        "-kernel".into(),
        kernel.display().to_string(),
        "-dtb".into(),
        dtb.display().to_string(),
    ]);
    for module in modules {
        args.push("-device".into());
        args.push(format!(
            "loader,file={},addr={:#x},force-raw=on",
            escape(&module.path),
            module.address
        ));
    }
    args
}

/// Arguments to write the DTB `raspi4b` hands its kernel (`dtb` completed
/// by QEMU: memory node, unmodelled devices removed) to `out`, then exit.
pub fn raspi4b_dumpdtb_args(dtb: &Path, kernel: &Path, out: &Path) -> Vec<String> {
    [
        "-M".to_string(),
        format!("{RASPI4B},dumpdtb={}", escape(out)),
        "-dtb".into(),
        dtb.display().to_string(),
        "-kernel".into(),
        kernel.display().to_string(),
        "-display".into(),
        "none".into(),
        "-monitor".into(),
        "none".into(),
        "-serial".into(),
        "null".into(),
    ]
    .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config<'a>(modules: &'a [LoadedModule], icount: bool) -> BootConfig<'a> {
        BootConfig {
            kernel: Path::new("target/images/bulkhead.bin"),
            dtb: Path::new("/w/merged.dtb"),
            modules,
            loader: Loader::Direct,
            uart_logs: [PathBuf::from("/w/uart0.log"), PathBuf::from("/w/uart1.log")],
            uart0_input: None,
            icount,
            disk: Path::new("/w/disk.img"),
            cpu: CpuModel::CortexA72,
            board: Board::QemuVirt,
        }
    }

    #[test]
    fn boot_line_has_machine_uarts_and_modules() {
        let modules = [
            LoadedModule {
                address: 0x4a00_0000,
                path: PathBuf::from("/g/compute.bin"),
            },
            LoadedModule {
                address: 0x4b00_0000,
                path: PathBuf::from("/g/a,b.bin"),
            },
        ];
        let line = display(&boot_args(&config(&modules, false)));
        assert_eq!(
            line,
            "qemu-system-aarch64 -M virt,virtualization=on,gic-version=3,iommu=smmuv3 \
             -cpu cortex-a72 -smp 4 -m 2G -nic none -display none -monitor none \
             -device edu,bus=pcie.0,addr=0x02.0,dma_mask=0xffffffffffffffff \
             -device edu,bus=pcie.0,addr=0x03.0,dma_mask=0xffffffffffffffff \
             -drive if=none,id=disk0,format=raw,readonly=on,file=/w/disk.img \
             -device virtio-blk-pci,drive=disk0,bus=pcie.0,addr=0x04.0,iommu_platform=on,disable-legacy=on \
             -serial file:/w/uart0.log -serial file:/w/uart1.log \
             -kernel target/images/bulkhead.bin -dtb /w/merged.dtb \
             -device loader,file=/g/compute.bin,addr=0x4a000000,force-raw=on \
             -device loader,file=/g/a,,b.bin,addr=0x4b000000,force-raw=on"
        );
    }

    #[test]
    fn uboot_line_has_the_same_machine_and_no_direct_load() {
        let modules = [LoadedModule {
            address: 0x4a00_0000,
            path: PathBuf::from("/g/compute.bin"),
        }];
        let direct = boot_args(&config(&modules, false));
        let disk = Path::new("/w/u-boot,disk.img");
        let uboot = boot_args(&BootConfig {
            loader: Loader::UBoot { disk },
            ..config(&modules, false)
        });
        // Machine, PCI functions and UARTs are those of every other boot.
        let common = direct
            .iter()
            .position(|arg| arg == "-kernel")
            .expect("has -kernel");
        assert_eq!(uboot[..common], direct[..common]);
        assert_eq!(
            uboot[common..].join(" "),
            "-bios /usr/lib/u-boot/qemu_arm64/u-boot.bin \
             -drive if=none,id=firmware-disk,format=raw,readonly=on,file=/w/u-boot,,disk.img \
             -device virtio-blk-device,drive=firmware-disk"
        );
    }

    #[test]
    fn icount_only_when_asked() {
        let without = boot_args(&config(&[], false));
        assert!(!without.iter().any(|arg| arg == "-icount"));
        let with = boot_args(&config(&[], true));
        let at = with
            .iter()
            .position(|arg| arg == "-icount")
            .expect("has -icount");
        assert_eq!(with[at + 1], "shift=0,align=off,sleep=off");
    }

    #[test]
    fn bare_line_runs_at_el1_on_the_same_cpu() {
        let line = display(&bare_args(&BareConfig {
            kernel: PathBuf::from("/l/Image"),
            initrd: Some(PathBuf::from("/l/initramfs.cpio")),
            append: Some("console=ttyAMA0".into()),
            cpus: 2,
            memory_mib: 256,
            uart_logs: [PathBuf::from("/w/uart0.log"), PathBuf::from("/w/uart1.log")],

            icount: true,
            disk: PathBuf::from("/w/disk.img"),
            cpu: CpuModel::CortexA72,
            board: Board::QemuVirt,
        }));
        assert_eq!(
            line,
            "qemu-system-aarch64 -M virt,gic-version=3,highmem-ecam=off -cpu cortex-a72 -smp 2 -m 256M \
             -nic none -display none -monitor none \
             -device edu,bus=pcie.0,addr=0x02.0,dma_mask=0xffffffffffffffff \
             -device edu,bus=pcie.0,addr=0x03.0,dma_mask=0xffffffffffffffff \
             -drive if=none,id=disk0,format=raw,readonly=on,file=/w/disk.img \
             -device virtio-blk-pci,drive=disk0,bus=pcie.0,addr=0x04.0,iommu_platform=on,disable-legacy=on \
             -serial file:/w/uart0.log -serial file:/w/uart1.log \
             -kernel /l/Image -initrd /l/initramfs.cpio -append console=ttyAMA0 \
             -icount shift=0,align=off,sleep=off"
        );
    }

    #[test]
    fn dump_uses_the_same_machine() {
        for board in Board::ALL {
            let dump = dumpdtb_args(Path::new("/b/board.dtb"), board, CpuModel::CortexA72);
            let boot = boot_args(&BootConfig {
                board,
                ..config(&[], false)
            });
            assert_eq!(dump[1], format!("{},dumpdtb=/b/board.dtb", boot[1]));
            // Every machine-defining option after -M is identical.
            assert_eq!(dump[2..14], boot[2..14]);
        }
    }

    #[test]
    fn gicv2_board_changes_only_the_gic() {
        let v3 = boot_args(&config(&[], false));
        let v2 = boot_args(&BootConfig {
            board: Board::QemuVirtGicv2,
            ..config(&[], false)
        });
        assert_eq!(v2[1], "virt,virtualization=on,gic-version=2,iommu=smmuv3");
        assert_eq!(v3[2..], v2[2..]);
    }
}
