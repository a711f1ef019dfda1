//! A partition's virtual GIC: its purely virtual state, vCPU affinities, and physical reset.

use alloc::vec::Vec;

use super::ownership::Ownership;
use super::physical::{PhysicalGic, Width};
use super::registers::{
    AFFINITY_MASK, DEFAULT_PRIORITY, GICD_ICACTIVER, GICD_ICENABLER, GICD_ICPENDR, GICD_IGROUPR,
    GICD_IPRIORITYR, GICD_IROUTER, GICR_ICACTIVER0, GICR_ICENABLER0, GICR_ICPENDR0, GICR_IGROUPR0,
    GICR_IPRIORITYR0, GUEST_PPIS, GUEST_PPI_MASK, INTID_COUNT, REDISTRIBUTOR_STRIDE, SGI_COUNT,
};
use super::virtual_spis::{virtual_spi_bit, VirtualSpis};

/// State of one vCPU's redistributor that never reaches the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct VcpuState {
    /// GICR_WAKER.ProcessorSleep as last written; ChildrenAsleep mirrors it.
    pub(super) processor_sleep: bool,
    /// GICR_ISENABLER0 bits 0..=15.
    pub(super) sgi_enabled: u16,
    /// GICR_IPRIORITYR0..3.
    pub(super) sgi_priority: [u8; SGI_COUNT],
}

impl VcpuState {
    /// The architecture's reset state: the redistributor asleep, SGIs disabled at priority 0.
    const RESET: VcpuState = VcpuState {
        processor_sleep: true,
        sgi_enabled: 0,
        sgi_priority: [0; SGI_COUNT],
    };
}

/// One partition's GICv3 distributor and redistributors, as its vCPUs see them.
#[derive(Debug)]
pub struct VirtualGic {
    pub(super) ownership: Ownership,
    /// Physical MPIDR of the core running each vCPU, by vCPU index.
    pub(super) vcpu_mpidrs: Vec<u64>,
    /// GICD_CTLR.EnableGrp0/EnableGrp1 as last written.
    pub(super) distributor_control: u32,
    pub(super) vcpus: Vec<VcpuState>,
    /// The partition's purely virtual SPIs (channel doorbells, virtual PCI INTx).
    pub(super) virtual_spis: VirtualSpis,
    /// On a GICv2, the physical CPU interface number of each vCPU's core
    /// (GICv2 targets SPIs and SGIs by those); empty on a GICv3.
    pub(super) cpu_interfaces: Vec<u8>,
}

impl Clone for VirtualGic {
    fn clone(&self) -> Self {
        VirtualGic {
            ownership: self.ownership.clone(),
            vcpu_mpidrs: self.vcpu_mpidrs.clone(),
            distributor_control: self.distributor_control,
            vcpus: self.vcpus.clone(),
            virtual_spis: self.virtual_spis.clone(),
            cpu_interfaces: self.cpu_interfaces.clone(),
        }
    }

    /// Reuses this model's storage: checkpoints save and restore the model
    /// while guests run, where nothing may allocate.
    fn clone_from(&mut self, source: &Self) {
        self.ownership.clone_from(&source.ownership);
        self.vcpu_mpidrs.clone_from(&source.vcpu_mpidrs);
        self.distributor_control = source.distributor_control;
        self.vcpus.clone_from(&source.vcpus);
        self.virtual_spis.clone_from(&source.virtual_spis);
        self.cpu_interfaces.clone_from(&source.cpu_interfaces);
    }
}

impl VirtualGic {
    /// A partition's virtual GIC in its reset state. `vcpu_mpidrs[n]` is the
    /// physical MPIDR of the core vCPU `n` runs on; vCPU `n` sees affinity `n`.
    pub fn new(ownership: Ownership, vcpu_mpidrs: Vec<u64>) -> Self {
        let vcpus = alloc::vec![VcpuState::RESET; vcpu_mpidrs.len()];
        VirtualGic {
            ownership,
            vcpu_mpidrs,
            distributor_control: 0,
            vcpus,
            virtual_spis: VirtualSpis::new(core::iter::empty()),
            cpu_interfaces: Vec::new(),
        }
    }

    /// The same on a GICv2 whose vCPU `n` runs on CPU interface
    /// `cpu_interfaces[n]` (guests then see the GICv2 distributor layout).
    pub fn with_gicv2_cpu_interfaces(mut self, cpu_interfaces: Vec<u8>) -> Self {
        self.cpu_interfaces = cpu_interfaces;
        self
    }

    /// Whether the model is a GICv2's.
    pub fn is_gicv2(&self) -> bool {
        !self.cpu_interfaces.is_empty()
    }

    /// The physical CPU interface of each vCPU's core (GICv2 only).
    pub(super) fn cpu_interfaces(&self) -> &[u8] {
        &self.cpu_interfaces
    }

    /// The same, with the purely virtual SPIs `intids` (those outside the
    /// virtual range are ignored).
    pub fn with_virtual_spis(mut self, intids: impl IntoIterator<Item = u32>) -> Self {
        self.virtual_spis = VirtualSpis::new(intids);
        self
    }

    /// Where a raised virtual SPI goes: `Some((vcpu, priority))` if the guest
    /// has it enabled and group 1 on; otherwise it is latched (delivered by
    /// [`VirtualGic::take_deliverable`] once enabled) and `None` returned.
    pub fn deliver_virtual_spi(&mut self, intid: u32) -> Option<(usize, u8)> {
        let slot = self.virtual_spis.slot(intid)?;
        let bit = 1u64 << slot;
        if self.virtual_spis.enabled & bit != 0 && self.group1_enabled() {
            Some((
                usize::from(self.virtual_spis.route[slot]),
                self.virtual_spis.priority[slot],
            ))
        } else {
            self.virtual_spis.latched |= bit;
            None
        }
    }

    /// Latched virtual SPIs that are now deliverable (enabled, group 1 on),
    /// as a slot mask (bit n: INTID FIRST_VIRTUAL_SPI + n); they are no
    /// longer latched.
    pub fn take_deliverable(&mut self) -> u64 {
        let ready = if self.group1_enabled() {
            self.virtual_spis.latched & self.virtual_spis.enabled
        } else {
            0
        };
        self.virtual_spis.latched &= !ready;
        ready
    }

    /// The partition's virtual SPIs, as a slot mask (0: it has none).
    pub fn virtual_spi_slots(&self) -> u64 {
        self.virtual_spis.present
    }

    /// Virtual SPIs the guest has enabled, with group 1 on, as a slot mask.
    pub fn deliverable_virtual_spis(&self) -> u64 {
        if self.group1_enabled() {
            self.virtual_spis.enabled & self.virtual_spis.present
        } else {
            0
        }
    }

    /// The priority the guest gave virtual SPI `intid` (0 if it is not one).
    pub fn virtual_spi_priority(&self, intid: u32) -> u8 {
        self.virtual_spis
            .slot(intid)
            .map_or(0, |slot| self.virtual_spis.priority[slot])
    }

    /// Virtual SPIs raised while disabled, as a slot mask.
    /// Virtual SPIs the guest configured edge-triggered, as a slot mask.
    pub fn edge_virtual_spis(&self) -> u64 {
        self.virtual_spis.edge & self.virtual_spis.present
    }

    pub fn latched_virtual_spis(&self) -> u64 {
        self.virtual_spis.latched
    }

    /// The vCPU virtual SPI `intid` is routed to (0 if it is not one).
    pub fn virtual_spi_route(&self, intid: u32) -> usize {
        self.virtual_spis
            .slot(intid)
            .map_or(0, |slot| usize::from(self.virtual_spis.route[slot]))
    }

    /// Whether `intid` is one of this partition's virtual SPIs.
    pub fn has_virtual_spi(&self, intid: u32) -> bool {
        virtual_spi_bit(intid).is_some() && self.virtual_spis.slot(intid).is_some()
    }

    /// Number of vCPUs (and of virtual redistributors).
    pub fn vcpu_count(&self) -> usize {
        self.vcpus.len()
    }

    /// The SPIs this partition owns.
    pub fn ownership(&self) -> &Ownership {
        &self.ownership
    }

    /// Size of the virtual redistributor region: vcpu_count * REDISTRIBUTOR_STRIDE.
    pub fn redistributor_region_size(&self) -> u64 {
        self.vcpu_count() as u64 * REDISTRIBUTOR_STRIDE
    }

    /// The guest has enabled virtual SGI `sgi` on `vcpu` (false for anything out of range).
    pub fn sgi_enabled(&self, vcpu: usize, sgi: u32) -> bool {
        match self.vcpus.get(vcpu) {
            Some(state) if (sgi as usize) < SGI_COUNT => state.sgi_enabled & (1 << sgi) != 0,
            _ => false,
        }
    }

    /// Priority the guest gave virtual SGI `sgi` on `vcpu` (0 for anything out of range).
    pub fn sgi_priority(&self, vcpu: usize, sgi: u32) -> u8 {
        self.vcpus
            .get(vcpu)
            .and_then(|state| state.sgi_priority.get(sgi as usize))
            .copied()
            .unwrap_or(0)
    }

    /// The guest's distributor is enabled for group 1 (GICD_CTLR.EnableGrp1).
    pub fn group1_enabled(&self) -> bool {
        // A GICv2 guest without security extensions enables its (group 0)
        // interrupts with bit 0: either bit turns the distributor on.
        if self.is_gicv2() {
            return self.distributor_control & 0b11 != 0;
        }
        self.distributor_control & super::registers::CTLR_ENABLE_GRP1 != 0
    }

    /// Puts the partition's physical interrupts in a clean state at partition
    /// (re)start: every owned SPI disabled, not pending, not active, group 1,
    /// default priority, routed to vCPU 0's core; the guest PPIs on each of its
    /// cores likewise. Other INTIDs are left alone.
    ///
    /// Group registers are read-modify-written: `gic` must be exclusively
    /// owned for the whole call (the hypervisor's `HardwareGic` holds the
    /// distributor's one lock), or two partitions lose each other's bits.
    pub fn reset_physical(&mut self, gic: &mut impl PhysicalGic) {
        for register in 1..(INTID_COUNT / 32) as usize {
            let mask = self.ownership.bank_mask(register);
            if mask == 0 {
                continue;
            }
            let offset = register as u64 * 4;
            let mask = u64::from(mask);
            gic.write_distributor(GICD_ICENABLER + offset, Width::Word, mask);
            gic.write_distributor(GICD_ICPENDR + offset, Width::Word, mask);
            gic.write_distributor(GICD_ICACTIVER + offset, Width::Word, mask);
            let groups = gic.read_distributor(GICD_IGROUPR + offset, Width::Word);
            gic.write_distributor(GICD_IGROUPR + offset, Width::Word, groups | mask);
        }
        let route = self.physical_affinity(0);
        let targets = self.reset_targets();
        for intid in self.ownership.spis() {
            gic.write_distributor(
                GICD_IPRIORITYR + u64::from(intid),
                Width::Byte,
                u64::from(DEFAULT_PRIORITY),
            );
            if self.is_gicv2() {
                let offset = Self::targets_offset(intid);
                gic.write_distributor(offset, Width::Byte, u64::from(targets));
            } else if let Some(route) = route {
                let offset = GICD_IROUTER + u64::from(intid) * 8;
                gic.write_distributor(offset, Width::Double, route);
            }
        }
        for vcpu in 0..self.vcpu_count() {
            self.reset_physical_private(gic, vcpu);
        }
    }

    /// The private half of [`VirtualGic::reset_physical`]: the guest PPIs of
    /// `vcpu`'s core disabled, not pending, not active, group 1, default
    /// priority. On a GICv2 those registers are banked in the distributor
    /// and only reachable from that core, so the hypervisor also calls this
    /// there, when the vCPU starts.
    pub fn reset_physical_private(&self, gic: &mut impl PhysicalGic, vcpu: usize) {
        let ppis = u64::from(GUEST_PPI_MASK);
        gic.write_redistributor(vcpu, GICR_ICENABLER0, Width::Word, ppis);
        gic.write_redistributor(vcpu, GICR_ICPENDR0, Width::Word, ppis);
        gic.write_redistributor(vcpu, GICR_ICACTIVER0, Width::Word, ppis);
        let groups = gic.read_redistributor(vcpu, GICR_IGROUPR0, Width::Word);
        gic.write_redistributor(vcpu, GICR_IGROUPR0, Width::Word, groups | ppis);
        for ppi in GUEST_PPIS {
            gic.write_redistributor(
                vcpu,
                GICR_IPRIORITYR0 + u64::from(ppi),
                Width::Byte,
                u64::from(DEFAULT_PRIORITY),
            );
        }
    }

    /// Resets the virtual state (partition reset): distributor disabled,
    /// redistributors asleep, SGIs disabled at priority 0.
    pub fn reset(&mut self) {
        self.distributor_control = 0;
        self.vcpus.fill(VcpuState::RESET);
        self.virtual_spis.reset();
    }

    /// Affinity vCPU `vcpu` sees as its own (its MPIDR is `vcpu`), in MPIDR/IROUTER layout.
    pub(super) fn virtual_affinity(vcpu: usize) -> u64 {
        let vcpu = vcpu as u64;
        (vcpu & 0xFF_FFFF) | ((vcpu >> 24) & 0xFF) << 32
    }

    /// The vCPU whose virtual affinity is `affinity` (Aff fields only), if any.
    pub(super) fn vcpu_of_virtual_affinity(&self, affinity: u64) -> Option<usize> {
        let index = (affinity & 0xFF_FFFF) | ((affinity >> 32) & 0xFF) << 24;
        usize::try_from(index)
            .ok()
            .filter(|&vcpu| vcpu < self.vcpu_count())
    }

    /// Affinity fields of the physical core running `vcpu`.
    pub(super) fn physical_affinity(&self, vcpu: usize) -> Option<u64> {
        self.vcpu_mpidrs
            .get(vcpu)
            .map(|mpidr| mpidr & AFFINITY_MASK)
    }

    /// The vCPU running on the core with physical affinity `affinity`, if any.
    pub(super) fn vcpu_of_physical_affinity(&self, affinity: u64) -> Option<usize> {
        let affinity = affinity & AFFINITY_MASK;
        self.vcpu_mpidrs
            .iter()
            .position(|mpidr| mpidr & AFFINITY_MASK == affinity)
    }
}
