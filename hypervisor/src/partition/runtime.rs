//! A partition at run time: its validated configuration, stage-2 map, guest DT and state.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

use bulkhead_core::address::{Ipa, PhysAddr, PAGE_SIZE};
use bulkhead_core::boot_image::{self, BootPlacement};
use bulkhead_core::config::virtual_console::{VIRTUAL_UART, VIRTUAL_UART_INTID};
use bulkhead_core::config::{self, Board, Module};
use bulkhead_core::entropy::{SeedKey, RNG_SEED_BYTES};
use bulkhead_core::guest_dt::{self, GuestDtOptions};
use bulkhead_core::protocol::OperationSlot;
use bulkhead_core::stage2::{Access, MemoryKind, Stage2};
use bulkhead_core::vgic::{
    FixedRegisters, Ownership, PhysicalGic, VirtualGic, Width, DISTRIBUTOR_SIZE,
    DISTRIBUTOR_V2_SIZE, GUEST_PPIS, REDISTRIBUTOR_STRIDE,
};

/// What of the board's GICV a GICv2 guest gets as its GICC: 8 KiB (GICC_DIR at 0x1000).
const GICV2_GUEST_CPU_INTERFACE_SIZE: u64 = 0x2000;
use spin::Mutex;

use super::vcpu::Vcpu;
use crate::arch::aarch64::vgic_hw::{self, HardwareGic};
use crate::arch::aarch64::{cache, simd, sysreg};
use crate::emulated::{
    Registry, VgicDistributor, VgicDistributorV2, VgicRedistributors, VirtualPciHost, VirtualUart,
};
use crate::error::Error;
use crate::pci::PciBus;
use crate::virtual_spi::VirtualSpiLines;
use alloc::sync::Arc;
use bulkhead_core::pci::emulated::IntxLine;

/// Where a partition is in its life.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionState {
    Running = 0,
    /// Being reset: its vCPUs are leaving the guest; it will run again.
    Resetting = 1,
    /// Powered off by its own SYSTEM_OFF.
    Off = 2,
    /// Stopped by Bulkhead after a fault.
    Stopped = 3,
}

impl PartitionState {
    fn from_raw(raw: u8) -> PartitionState {
        match raw {
            0 => PartitionState::Running,
            1 => PartitionState::Resetting,
            2 => PartitionState::Off,
            _ => PartitionState::Stopped,
        }
    }
}

/// Bytes of `module`'s first `limit` bytes up to its last non-zero 4 KiB
/// page: what a loader put in the slot, without the slot's zero tail.
fn used_size(module: &Module, limit: u64) -> u64 {
    let used = simd::trimmed_len(module_bytes(module, limit)) as u64;
    used.next_multiple_of(PAGE_SIZE).min(module.size)
}

/// The first `len` bytes (at most) of a boot module.
fn module_bytes(module: &Module, len: u64) -> &'static [u8] {
    // SAFETY: the validator guarantees the module lies in RAM outside every
    // partition and outside the hypervisor; EL2 maps RAM as normal memory
    // and nothing writes boot modules after firmware loaded them.
    unsafe { core::slice::from_raw_parts(module.pa.0 as *const u8, module.size.min(len) as usize) }
}

/// Where a start patches the guest DT's seeds, and the key they come from.
struct SeedPatch {
    key: SeedKey,
    rng_seed: usize,
    kaslr_seed: usize,
}

pub struct Partition {
    pub config: config::Partition,
    pub vmid: u16,
    /// Root of the stage-2 table (fixed for the partition's life).
    stage2_root: u64,
    /// Locked: checkpoint tracking write-protects and re-enables pages at run time.
    pub stage2: Mutex<Stage2>,
    /// The lifecycle operation (checkpoint, restore, reset, stop) under way, if any.
    pub operation: OperationSlot,
    pub checkpointing: Option<super::checkpoint::Checkpointing>,
    /// The guest DT, built at boot; each start patches its boot count.
    guest_dtb: Vec<u8>,
    /// Where `/chosen/bulkhead,boot-count`'s value lies in `guest_dtb`.
    boot_count_offset: Option<usize>,
    /// Where each start writes the guest's fresh `rng-seed` and
    /// `kaslr-seed`; none when the board gave Bulkhead no entropy.
    seed_offsets: Option<SeedPatch>,
    /// Starts so far (first boot and every reset).
    starts: AtomicU32,
    /// Where the image, guest DT and initrd go in the partition.
    pub placement: BootPlacement,
    pub vcpus: Vec<Vcpu>,
    /// Changed only by the holder of `operation`.
    state: AtomicU8,
    /// The partition's emulated GIC distributor and redistributors.
    pub vgic: Mutex<VirtualGic>,
    /// Its distributor's type and identification registers, read without `vgic`'s lock.
    pub fixed_distributor: FixedRegisters,
    /// Its trapped IPA ranges and the devices emulated behind them.
    pub emulated: Registry,
    /// SPIs (bit per INTID) the partition owns: read on every interrupt, so kept outside the lock.
    owned_spis: [u32; 32],
    /// Physical RD_base of the redistributor of each vCPU's core (GICv3).
    pub redistributor_frames: Vec<u64>,
    /// GICv2: the MPIDR of each vCPU's core, whose banked distributor
    /// registers hold the vCPU's SGIs and PPIs (empty on a GICv3).
    banked_cores: Vec<u64>,
    /// Physical distributor base.
    distributor: u64,
    /// Its virtual PCI host bridge, when it has individual PCI functions.
    pub virtual_pci: Option<&'static VirtualPciHost>,
    /// Its virtual PL011, when it owns no UART.
    pub virtual_uart: Option<&'static VirtualUart>,
    /// The stage-2 table its devices' DMA goes through (SMMU): its RAM,
    /// never write-protected, so checkpointing never fails a DMA.
    pub dma_stage2: Option<Stage2>,
    /// Where its channels' other endpoints are (filled when the system is installed).
    pub channel_routes: crate::channel::ChannelRoutes,
    /// The INTx line of each of its channel endpoints' PCI function, by slot.
    channel_lines: Vec<Arc<IntxLine>>,
    /// Its purely virtual SPIs (channel doorbells, virtual PCI INTx), raised from any core.
    pub virtual_spis: VirtualSpiLines,
    /// Traps taken by its vCPUs, by reason (the control function's table).
    pub traps: TrapCounters,
}

/// Traps to Bulkhead by reason; relaxed counters, each bumped on the trapping core.
#[derive(Default)]
pub struct TrapCounters {
    pub hypercall: AtomicU64,
    pub mmio: AtomicU64,
    pub sysreg: AtomicU64,
    pub irq: AtomicU64,
    pub other: AtomicU64,
    /// Faults Bulkhead reported for the partition (stage-2 aborts it could
    /// not serve, whether delivered to the guest or fatal).
    pub faults: AtomicU64,
    /// Stage-2 aborts delivered to the guest as external aborts: the report
    /// rate limit's count (`bulkhead_core::external_abort::report_kind`),
    /// never reset, so a restart buys no fresh budget.
    pub delivered_aborts: AtomicU64,
    /// Accesses to hidden features made UNDEFINED, under the same rate limit.
    pub delivered_undefined: AtomicU64,
    /// What STATS reports beyond the above (`bulkhead_abi::vendor::stats`).
    pub gic: AtomicU64,
    pub sgis: AtomicU64,
    pub irqs_injected: AtomicU64,
    pub stage2_faults: AtomicU64,
    pub write_faults: AtomicU64,
    pub console_bytes: AtomicU64,
    pub console_dropped: AtomicU64,
}

impl TrapCounters {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, count: u64) {
        counter.fetch_add(count, Ordering::Relaxed);
    }

    /// The counters STATS returns, in `bulkhead_abi::vendor::stats` order;
    /// `unserved_calls`: the hypercalls the partition's cores answered on
    /// the fast path (`percpu::unserved_calls`).
    pub fn stats(&self, unserved_calls: u64) -> [u64; bulkhead_abi::vendor::stats::COUNT] {
        let mut values = [
            &self.hypercall,
            &self.gic,
            &self.sgis,
            &self.irqs_injected,
            &self.stage2_faults,
            &self.write_faults,
            &self.console_bytes,
            &self.console_dropped,
        ]
        .map(|counter| counter.load(Ordering::Relaxed));
        values[bulkhead_abi::vendor::stats::HYPERCALLS] += unserved_calls;
        values
    }
}

/// The one-line rendering of a partition's STATS counters (`name=value ...`).
pub struct StatsLine(pub [u64; bulkhead_abi::vendor::stats::COUNT]);

impl core::fmt::Display for StatsLine {
    fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (index, (name, value)) in bulkhead_abi::vendor::stats::NAMES
            .iter()
            .zip(self.0)
            .enumerate()
        {
            let separator = if index == 0 { "" } else { " " };
            write!(out, "{separator}{name}={value}")?;
        }
        Ok(())
    }
}

/// A stage-2 map's capacity from its bound (which the heap check at boot
/// has already found room for).
fn table_capacity(bound: u64) -> usize {
    usize::try_from(bound).unwrap_or(usize::MAX)
}

/// The SMMU's stage 2 for the partition: its RAM read/write, nothing else
/// (no MMIO: no peer-to-peer, no ITS doorbell, so no MSIs).
fn dma_stage2(config: &config::Partition) -> Result<Stage2, Error> {
    let mut stage2 = Stage2::with_capacity(table_capacity(config::heap::dma_stage2_tables(config)));
    for region in &config.memory {
        stage2.map(
            region.ipa,
            region.pa,
            region.size,
            MemoryKind::Normal,
            Access::ReadWrite,
        )?;
    }
    Ok(stage2)
}

impl Partition {
    /// Its STATS counters, the per-core fast-path hypercalls included.
    pub fn stats(&self) -> [u64; bulkhead_abi::vendor::stats::COUNT] {
        let unserved = self
            .vcpus
            .iter()
            .map(|vcpu| crate::percpu::unserved_calls(vcpu.cpu))
            .sum();
        self.traps.stats(unserved)
    }

    /// Builds the partition's stage-2 map and guest DT from its validated
    /// configuration, and sizes every structure it will use at run time.
    pub fn new(
        config: config::Partition,
        board: &Board,
        board_dtb: &'static [u8],
        redistributor_frames: Vec<u64>,
        pci: Option<&PciBus>,
    ) -> Result<Partition, Error> {
        let vmid = u16::try_from(config.id).map_err(|_| Error::VmidTooLarge(config.id))?;
        // The board's entropy, else the CPU's: every start derives the
        // guest's seeds from it.
        let seed_key = SeedKey::from_board(board_dtb)
            .or_else(|| sysreg::random_words().and_then(|words| SeedKey::from_words(&words)));
        let mut stage2 =
            Stage2::with_capacity(table_capacity(config::heap::cpu_stage2_tables(&config)));
        for region in &config.memory {
            stage2.map(
                region.ipa,
                region.pa,
                region.size,
                MemoryKind::Normal,
                Access::ReadWrite,
            )?;
            if config.checkpoint.is_some() {
                // Dirty tracking works on 4 KiB pages: split now, so that it
                // never allocates a table while the guest runs.
                stage2.split_to_pages(region.ipa, region.size)?;
            }
        }
        for channel in &config.channels {
            // Shared memory, plain RAM to both sides; a read-only endpoint's
            // write is a stage-2 permission fault (reported, partition stopped).
            let access = if channel.read_only {
                Access::ReadOnly
            } else {
                Access::ReadWrite
            };
            stage2.map(
                channel.ipa,
                channel.pa,
                channel.size,
                MemoryKind::Normal,
                access,
            )?;
        }
        for reg in config.mmio_ranges() {
            // A window beyond the stage-2 IPA space (e.g. a PCIe host's
            // 64-bit window at 512 GiB) cannot be mapped; the guest
            // keeps the rest of the device.
            if reg.start.0 >= 1 << bulkhead_core::stage2::IPA_BITS {
                log::warn!(
                    "partition {}: MMIO window {:#x}+{:#x} lies beyond the {}-bit IPA space; not mapped",
                    config.label,
                    reg.start.0,
                    reg.size,
                    bulkhead_core::stage2::IPA_BITS
                );
                continue;
            }
            // Device registers are mapped at IPA == PA, whole pages.
            let start = reg.start.0 & !(PAGE_SIZE - 1);
            let Some(end) = reg.end().map(|end| end.next_multiple_of(PAGE_SIZE)) else {
                continue;
            };
            stage2.map(
                Ipa(start),
                PhysAddr(start),
                end - start,
                MemoryKind::Device,
                Access::ReadWrite,
            )?;
        }
        if let Some(gic) = board.gic_v2() {
            // The guest's GICC is the board's GICV, mapped at the GICC
            // address: it acknowledges and ends its interrupts without a
            // trap. 8 KiB: GICC_DIR is at 0x1000.
            let Some(virtual_cpu_interface) = gic.virtual_cpu_interface else {
                return Err(Error::GicWithoutVirtualization);
            };
            stage2.map(
                Ipa(gic.cpu_interface.start.0),
                PhysAddr(virtual_cpu_interface.start.0),
                GICV2_GUEST_CPU_INTERFACE_SIZE,
                MemoryKind::Device,
                Access::ReadWrite,
            )?;
        }
        // A layout reserves a slot for the initrd; the guest is told only the
        // part up to the last non-zero page (an initramfs ignores trailing
        // zeros, and a slot's zero tail would otherwise cost the guest RAM).
        // The same holds for the kernel, copied at every start: an arm64
        // Image's file ends before `image_size` (which adds the BSS the
        // kernel clears itself), so only that much of the slot is scanned.
        let mut config = config;
        if let Some(initrd) = config.initrd.as_mut() {
            initrd.size = used_size(initrd, u64::MAX);
        }
        let header = boot_image::parse_image_header(module_bytes(&config.kernel, 64));
        let scanned = header
            .as_ref()
            .map(|header| header.image_size)
            .filter(|&size| size != 0)
            .unwrap_or(u64::MAX);
        config.kernel.size = used_size(&config.kernel, scanned);
        // The placement rule reserves a fixed 2 MiB for the DT, so it can be
        // computed before the DT (which names the initrd's place) exists.
        let placement = boot_image::placement(&config, header.as_ref(), 0)?;
        let initrd = placement
            .initrd
            .zip(config.initrd.as_ref().map(|initrd| initrd.size));
        // Built once; every start patches its boot count in place.
        let guest_dtb = guest_dt::build(
            board_dtb,
            &config,
            &GuestDtOptions {
                bootargs: None,
                initrd,
                boot_count: 1,
                seeds: seed_key.is_some(),
            },
        )?;
        let boot_count_offset = guest_dt::boot_count_offset(&guest_dtb);
        let seed_offsets = seed_key.and_then(|key| {
            Some(SeedPatch {
                key,
                rng_seed: guest_dt::chosen_value_offset(&guest_dtb, "rng-seed", RNG_SEED_BYTES)?,
                kaslr_seed: guest_dt::chosen_value_offset(&guest_dtb, "kaslr-seed", 8)?,
            })
        });
        boot_image::placement(&config, header.as_ref(), guest_dtb.len() as u64)?;
        let spis: Vec<u32> = config
            .interrupts()
            .filter(|&intid| (32..1020).contains(&intid))
            .collect();
        // Every interrupt a vCPU can be sent: its PPIs and the partition's SPIs.
        let interrupt_sources = GUEST_PPIS.len() + spis.len();
        let vcpus = config
            .cpus
            .iter()
            .enumerate()
            .map(|(index, &cpu)| {
                let mpidr = board.cpus.get(cpu).map_or(0, |c| c.mpidr);
                Vcpu::new(index, cpu, mpidr, interrupt_sources)
            })
            .collect();
        let mut owned_spis = [0u32; 32];
        for &intid in &spis {
            owned_spis[intid as usize / 32] |= 1 << (intid % 32);
        }
        let vcpu_mpidrs: Vec<u64> = config
            .cpus
            .iter()
            .map(|&cpu| board.cpus.get(cpu).map_or(0, |c| c.mpidr))
            .collect();
        let gicv2 = crate::arch::aarch64::gic::v2();
        let banked_cores = match gicv2 {
            Some(_) => vcpu_mpidrs.clone(),
            None => Vec::new(),
        };
        let mut vgic = VirtualGic::new(Ownership::new(spis), vcpu_mpidrs)
            .with_virtual_spis(config.virtual_spis());
        if let Some(gicv2) = gicv2 {
            let interfaces = banked_cores
                .iter()
                .map(|&mpidr| gicv2.target_of(mpidr).trailing_zeros() as u8)
                .collect();
            vgic = vgic.with_gicv2_cpu_interfaces(interfaces);
        }
        let distributor = board
            .gic
            .as_ref()
            .map_or(0, |gic| gic.distributor().start.0);
        let fixed_distributor = {
            // Only distributor registers are read: no redistributor frames needed.
            let mut hardware = HardwareGic::new(distributor, &[], &[]);
            let model = &mut vgic;
            FixedRegisters::capture(|offset| match gicv2 {
                Some(_) => model.distributor_v2_read(&mut hardware, 0, offset, Width::Word),
                None => model.distributor_read(&mut hardware, offset, Width::Word),
            })
        };
        let checkpointing = match config.checkpoint.as_ref() {
            Some(policy) => Some(super::checkpoint::Checkpointing::new(
                &config, policy, &vgic,
            )?),
            None => None,
        };
        let mut emulated = Registry::default();
        if let Some(gic) = board.gic_v3() {
            let redistributors = config.cpus.len() as u64 * REDISTRIBUTOR_STRIDE;
            emulated
                .add(gic.distributor.start.0, DISTRIBUTOR_SIZE, &VgicDistributor)
                .and_then(|()| {
                    emulated.add(
                        gic.redistributors.start.0,
                        redistributors,
                        &VgicRedistributors,
                    )
                })
                .map_err(|_| Error::EmulatedOverlap)?;
        }
        if let Some(gic) = board.gic_v2() {
            // The whole frame the board gives the distributor (64 KiB on
            // QEMU virt, 4 KiB on a GIC-400) is trapped: what lies past the
            // GICv2 registers reads as zero and ignores writes, as on a
            // GICv3, rather than faulting.
            let size = gic
                .distributor
                .size
                .clamp(DISTRIBUTOR_V2_SIZE, DISTRIBUTOR_SIZE);
            emulated
                .add(gic.distributor.start.0, size, &VgicDistributorV2)
                .map_err(|_| Error::EmulatedOverlap)?;
        }
        let (virtual_pci, channel_lines) =
            match super::virtual_pci::build(&config, pci, &mut emulated)? {
                Some(built) => (Some(built.host), built.channel_lines),
                None => (None, Vec::new()),
            };
        let virtual_uart: Option<&'static VirtualUart> = if config.virtual_console {
            // Leaked: boot only, lives as long as the partition.
            let device: &'static VirtualUart = Box::leak(Box::new(VirtualUart::new()));
            emulated
                .add(VIRTUAL_UART.start.0, VIRTUAL_UART.size, device)
                .map_err(|_| Error::EmulatedOverlap)?;
            Some(device)
        } else {
            None
        };
        let dma_stage2 = if config.dma_capable() {
            Some(dma_stage2(&config)?)
        } else {
            None
        };
        let stage2_root = stage2.root_address();
        let virtual_spis = VirtualSpiLines::new();
        if virtual_uart.is_some() {
            virtual_spis.track_level(VIRTUAL_UART_INTID);
        }
        virtual_spis.refresh(&vgic);
        Ok(Partition {
            channel_routes: spin::Once::new(),
            channel_lines,
            virtual_spis,
            traps: TrapCounters::default(),
            virtual_pci,
            virtual_uart,
            dma_stage2,
            emulated,
            stage2_root,
            vgic: Mutex::new(vgic),
            fixed_distributor,
            owned_spis,
            redistributor_frames,
            banked_cores,
            distributor,
            config,
            vmid,
            stage2: Mutex::new(stage2),
            operation: OperationSlot::new(),
            checkpointing,
            guest_dtb,
            boot_count_offset,
            seed_offsets,
            starts: AtomicU32::new(0),
            placement,
            vcpus,
            state: AtomicU8::new(PartitionState::Running as u8),
        })
    }

    /// Rings the PCI function of its endpoint of channel slot `slot`; true
    /// if its INTx rose (the caller injects it).
    pub fn ring_ivshmem(&self, slot: usize) -> bool {
        self.channel_lines
            .get(slot)
            .is_some_and(|line| line.signal())
    }

    /// Starts so far (first boot and every reset).
    pub fn boot_count(&self) -> u32 {
        self.starts.load(Ordering::Acquire)
    }

    pub fn owns_spi(&self, intid: u32) -> bool {
        self.owned_spis
            .get(intid as usize / 32)
            .is_some_and(|word| word & (1 << (intid % 32)) != 0)
    }

    /// The priority the guest gave a hardware interrupt (read back from the physical GIC).
    pub fn hardware_priority(&self, vcpu: usize, intid: u32) -> u8 {
        if intid < 32 && !self.banked_cores.is_empty() {
            // GICv2: the banked copy of the current core, the vCPU's own
            // (injection runs there).
            vgic_hw::read_priority(self.distributor, 0x400 + u64::from(intid))
        } else if intid < 32 {
            match self.redistributor_frames.get(vcpu) {
                Some(&frame) => vgic_hw::read_priority(frame, 0x1_0400 + u64::from(intid)),
                None => 0,
            }
        } else if self.owns_spi(intid) {
            vgic_hw::read_priority(self.distributor, 0x400 + u64::from(intid))
        } else {
            0
        }
    }

    /// Whether `intid` is one of this partition's SPIs, configured level-sensitive.
    pub fn owns_level_spi(&self, intid: u32) -> bool {
        intid >= 32 && self.owns_spi(intid) && vgic_hw::spi_is_level(self.distributor, intid)
    }

    /// Whether this partition's SPI `intid` reads pending physically (for a
    /// level one: its line is asserted, even while it is active).
    pub fn spi_line_asserted(&self, intid: u32) -> bool {
        self.owns_spi(intid) && vgic_hw::spi_is_pending(self.distributor, intid)
    }

    /// The physical GIC as this partition's vGIC model may reach it, owned
    /// while the value lives (take it before the vGIC lock).
    pub fn hardware_gic(&self) -> HardwareGic<'_> {
        HardwareGic::new(
            self.distributor,
            &self.redistributor_frames,
            &self.banked_cores,
        )
    }

    /// Puts the partition's interrupts in their reset state, virtual and physical.
    pub fn reset_interrupts(&self) {
        let mut hardware = self.hardware_gic();
        let mut vgic = self.vgic.lock();
        vgic.reset();
        vgic.reset_physical(&mut hardware);
        self.virtual_spis.reset(&vgic);
        if let Some(uart) = self.virtual_uart {
            uart.reset();
        }
    }

    /// GICv2: puts `vcpu`'s guest PPIs in their reset state; on its own
    /// core only (they are banked there). Nothing to do on a GICv3, whose
    /// [`Partition::reset_interrupts`] reaches every redistributor.
    pub fn reset_private_interrupts(&self, vcpu: usize) {
        if self.banked_cores.is_empty() {
            return;
        }
        let mut hardware = self.hardware_gic();
        self.vgic.lock().reset_physical_private(&mut hardware, vcpu);
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    pub fn stage2_root(&self) -> u64 {
        self.stage2_root
    }

    /// Marks `intid` active in the physical GIC (the redistributor of
    /// `vcpu`'s core for a PPI), as it was when a restored LR captured it.
    pub fn set_physical_active(&self, vcpu: usize, intid: u32) {
        let mut gic = self.hardware_gic();
        let bit = 1u64 << (intid % 32);
        if intid < 32 {
            gic.write_redistributor(vcpu, 0x1_0300, Width::Word, bit);
        } else if self.owns_spi(intid) {
            gic.write_distributor(0x300 + 4 * u64::from(intid / 32), Width::Word, bit);
        }
    }

    /// SeqCst, with the vCPU states: see `bulkhead_core::protocol::VcpuCell::apply`.
    pub fn state(&self) -> PartitionState {
        PartitionState::from_raw(self.state.load(Ordering::SeqCst))
    }

    pub(super) fn set_state(&self, state: PartitionState) {
        self.state.store(state as u8, Ordering::SeqCst);
    }

    /// Copies the pristine guest image and the guest DT (with this start's
    /// boot count) into the partition's memory and makes them visible to a
    /// guest running with caches off. Called with no vCPU of the partition
    /// in its guest (at boot, or under a reset's claim).
    pub fn load_images(&self) -> Result<(), Error> {
        let boot_count = self.starts.fetch_add(1, Ordering::AcqRel).saturating_add(1);
        self.copy_in(
            self.placement.kernel,
            module_bytes(&self.config.kernel, u64::MAX),
        )?;
        self.copy_in(self.placement.dtb, &self.guest_dtb)?;
        let dtb_at = |offset: usize| Ipa(self.placement.dtb.0 + offset as u64);
        if let Some(offset) = self.boot_count_offset {
            self.copy_in(dtb_at(offset), &boot_count.to_be_bytes())?;
        }
        if let Some(seeds) = &self.seed_offsets {
            let id = self.config.id;
            self.copy_in(dtb_at(seeds.rng_seed), &seeds.key.rng_seed(id, boot_count))?;
            self.copy_in(
                dtb_at(seeds.kaslr_seed),
                &seeds.key.kaslr_seed(id, boot_count),
            )?;
        }
        if let (Some(ipa), Some(initrd)) = (self.placement.initrd, self.config.initrd.as_ref()) {
            self.copy_in(ipa, module_bytes(initrd, u64::MAX))?;
        }
        Ok(())
    }

    /// Copies `bytes` to `ipa` and cleans them to the point of coherency (the
    /// guest starts with caches off).
    fn copy_in(&self, ipa: Ipa, bytes: &[u8]) -> Result<(), Error> {
        let pa = self
            .config
            .ipa_to_pa(ipa, bytes.len() as u64)
            .ok_or(Error::ImageOutsideMemory)?;
        // SAFETY: `ipa_to_pa` checked that the destination lies inside this
        // partition's memory, identity-mapped at EL2; no vCPU of the
        // partition runs now, and the source (a boot module or the heap)
        // cannot overlap partition memory.
        let destination = unsafe { core::slice::from_raw_parts_mut(pa.0 as *mut u8, bytes.len()) };
        simd::copy_bytes(destination, bytes);
        cache::clean_to_poc_and_invalidate_icache(pa.0, bytes.len() as u64);
        Ok(())
    }
}
