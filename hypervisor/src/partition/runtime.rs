//! A partition at run time: its validated configuration, stage-2 map, guest DT and state.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use bulkhead_core::address::{Ipa, PhysAddr, PAGE_SIZE};
use bulkhead_core::config::{self, Board};
use bulkhead_core::guest_dt::{self, GuestDtOptions};
use bulkhead_core::stage2::{Access, MemoryKind, Stage2};
use bulkhead_core::vgic::{Ownership, PhysicalGic, VirtualGic, Width};
use spin::Mutex;

use super::vcpu::Vcpu;
use crate::arch::aarch64::cache;
use crate::arch::aarch64::vgic_hw::HardwareGic;

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

/// The guest DTB goes in the last 2 MiB of the first memory region.
const DTB_AREA: u64 = 2 << 20;

pub struct Partition {
    pub config: config::Partition,
    pub vmid: u16,
    stage2: Stage2,
    guest_dtb: Vec<u8>,
    pub dtb_ipa: Ipa,
    pub vcpus: Vec<Vcpu>,
    state: AtomicU8,
    /// Bumped on every stop or reset; a vCPU whose run started under an
    /// older generation must leave its guest.
    generation: AtomicU32,
    /// Serializes stop/reset so two vCPUs cannot tear the partition down at once.
    pub(super) lifecycle: Mutex<()>,
    /// The partition's emulated GIC distributor and redistributors.
    pub vgic: Mutex<VirtualGic>,
    /// SPIs (bit per INTID) the partition owns: read on every interrupt, so kept outside the lock.
    owned_spis: [u32; 32],
    /// Physical RD_base of the redistributor of each vCPU's core.
    pub redistributor_frames: Vec<u64>,
    /// Physical distributor base.
    distributor: u64,
    /// Whether the partition's next CONSOLE_WRITE byte starts a line.
    pub console_line_start: Mutex<bool>,
}

impl Partition {
    /// Builds the partition's stage-2 map and guest DT from its validated configuration.
    pub fn new(
        config: config::Partition,
        board: &Board,
        board_dtb: &[u8],
        redistributor_frames: Vec<u64>,
    ) -> Result<Partition, alloc::string::String> {
        use alloc::format;
        let vmid = u16::try_from(config.id)
            .map_err(|_| format!("partition id {} does not fit a VMID", config.id))?;
        let mut stage2 = Stage2::new();
        for region in &config.memory {
            stage2
                .map(
                    region.ipa,
                    region.pa,
                    region.size,
                    MemoryKind::Normal,
                    Access::ReadWrite,
                )
                .map_err(|error| format!("memory {:?}: {error:?}", region.ipa))?;
        }
        for device in &config.devices {
            for reg in &device.regs {
                // Device registers are mapped at IPA == PA, whole pages.
                let start = reg.start.0 & !(PAGE_SIZE - 1);
                let end = reg
                    .end()
                    .map(|end| end.next_multiple_of(PAGE_SIZE))
                    .ok_or_else(|| format!("device {}: reg wraps", device.path))?;
                stage2
                    .map(
                        Ipa(start),
                        PhysAddr(start),
                        end - start,
                        MemoryKind::Device,
                        Access::ReadWrite,
                    )
                    .map_err(|error| format!("device {}: {error:?}", device.path))?;
            }
        }
        let guest_dtb = guest_dt::build(board_dtb, &config, &GuestDtOptions::default())
            .map_err(|error| format!("guest device tree: {error}"))?;
        let first = config.memory.first().ok_or("no memory region")?;
        if first.size < 2 * DTB_AREA || guest_dtb.len() as u64 > DTB_AREA {
            return Err(format!(
                "first memory region too small for the guest DT ({} bytes)",
                guest_dtb.len()
            ));
        }
        let dtb_ipa = Ipa(first.ipa.0 + first.size - DTB_AREA);
        let image_end = config.load_address.0.saturating_add(config.kernel.size);
        if config.load_address.0 < dtb_ipa.0 + DTB_AREA && image_end > dtb_ipa.0 {
            return Err(format!(
                "kernel image at {:?} overlaps the guest DT area at {:?}",
                config.load_address, dtb_ipa
            ));
        }
        let vcpus = config
            .cpus
            .iter()
            .enumerate()
            .map(|(index, &cpu)| Vcpu::new(index, cpu, board.cpus.get(cpu).map_or(0, |c| c.mpidr)))
            .collect();
        let spis: Vec<u32> = config
            .devices
            .iter()
            .flat_map(|device| device.interrupts.iter().copied())
            .filter(|&intid| (32..1020).contains(&intid))
            .collect();
        let mut owned_spis = [0u32; 32];
        for &intid in &spis {
            owned_spis[intid as usize / 32] |= 1 << (intid % 32);
        }
        let vcpu_mpidrs = config
            .cpus
            .iter()
            .map(|&cpu| board.cpus.get(cpu).map_or(0, |c| c.mpidr))
            .collect();
        let vgic = VirtualGic::new(Ownership::new(spis), vcpu_mpidrs);
        let distributor = board.gic.as_ref().map_or(0, |gic| gic.distributor.start.0);
        Ok(Partition {
            vgic: Mutex::new(vgic),
            owned_spis,
            redistributor_frames,
            distributor,
            config,
            vmid,
            stage2,
            guest_dtb,
            dtb_ipa,
            vcpus,
            state: AtomicU8::new(PartitionState::Running as u8),
            generation: AtomicU32::new(0),
            lifecycle: Mutex::new(()),
            console_line_start: Mutex::new(true),
        })
    }

    pub fn owns_spi(&self, intid: u32) -> bool {
        self.owned_spis
            .get(intid as usize / 32)
            .is_some_and(|word| word & (1 << (intid % 32)) != 0)
    }

    /// The priority the guest gave a hardware interrupt (read back from the physical GIC).
    pub fn hardware_priority(&self, vcpu: usize, intid: u32) -> u8 {
        let mut gic = self.hardware_gic();
        let value = if intid < 32 {
            gic.read_redistributor(vcpu, 0x1_0400 + u64::from(intid), Width::Byte)
        } else {
            gic.read_distributor(0x400 + u64::from(intid), Width::Byte)
        };
        value as u8
    }

    /// The physical GIC as this partition's vGIC model may reach it.
    pub fn hardware_gic(&self) -> HardwareGic<'_> {
        HardwareGic {
            distributor: self.distributor,
            redistributors: &self.redistributor_frames,
        }
    }

    /// Puts the partition's interrupts in their reset state, virtual and physical.
    pub fn reset_interrupts(&self) {
        let mut vgic = self.vgic.lock();
        vgic.reset();
        vgic.reset_physical(&mut self.hardware_gic());
    }

    pub fn label(&self) -> &str {
        &self.config.label
    }

    pub fn stage2_root(&self) -> u64 {
        self.stage2.root_address()
    }

    pub fn state(&self) -> PartitionState {
        PartitionState::from_raw(self.state.load(Ordering::Acquire))
    }

    pub(super) fn set_state(&self, state: PartitionState) {
        self.state.store(state as u8, Ordering::Release);
    }

    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    pub(super) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Copies the pristine guest image and the guest DT into the partition's
    /// memory and makes them visible to a guest running with caches off.
    /// Called with no vCPU of the partition in its guest.
    pub fn load_images(&self) -> Result<(), &'static str> {
        let kernel = &self.config.kernel;
        let image_pa = self
            .config
            .ipa_to_pa(self.config.load_address, kernel.size)
            .ok_or("kernel does not fit at its load address")?;
        let dtb_pa = self
            .config
            .ipa_to_pa(self.dtb_ipa, self.guest_dtb.len() as u64)
            .ok_or("guest DT outside memory")?;
        // SAFETY: the validator guarantees the module lies in RAM outside
        // every partition and outside the hypervisor, and that the
        // destination lies inside this partition's memory, which is
        // identity-mapped at EL2 and not in use by any vCPU now.
        unsafe {
            core::ptr::copy_nonoverlapping(
                kernel.pa.0 as *const u8,
                image_pa.0 as *mut u8,
                kernel.size as usize,
            );
            core::ptr::copy_nonoverlapping(
                self.guest_dtb.as_ptr(),
                dtb_pa.0 as *mut u8,
                self.guest_dtb.len(),
            );
        }
        cache::clean_to_poc_and_invalidate_icache(image_pa.0, kernel.size);
        cache::clean_to_poc_and_invalidate_icache(dtb_pa.0, self.guest_dtb.len() as u64);
        Ok(())
    }
}
