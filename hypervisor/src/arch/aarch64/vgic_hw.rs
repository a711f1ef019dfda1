//! The virtual CPU interface's list-register algorithms (injecting, chaining, refilling), version-neutral over the GIC seam, and the physical GIC as the vGIC model sees it.

use bulkhead_core::decode::{Deactivation, ListRegister, ListRegisterState, SgiMerge};
use bulkhead_core::intid::IntId;
use bulkhead_core::pending_sgis::{PendingSgi, Taken};
use bulkhead_core::vgic::{PhysicalGic, Width};

use super::gic::{self, VirtualCpuInterface};

/// One virtual interrupt to put in a list register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtualInterrupt {
    pub intid: u32,
    pub priority: u8,
    /// Backed by the same physical INTID: the guest's deactivation reaches it.
    pub hardware: bool,
    /// A virtual SGI's sender (its vCPU index; GICv2 guests read it, 0 on a GICv3).
    pub source: u8,
}

impl VirtualInterrupt {
    /// Its list register on a GIC whose hardware-backed EOI does
    /// (`hardware_eoi_resignals`) or does not re-signal a still-asserted
    /// level interrupt: a PPI too (the virtual timer's line stays high when
    /// a handler re-arms it late, and its vCPU would wait forever).
    #[inline(always)]
    fn register(&self, hardware_eoi_resignals: bool) -> ListRegister {
        if self.hardware && !hardware_eoi_resignals && self.intid >= IntId::PPI_FIRST {
            ListRegister::pending_deactivated_by_maintenance(self.intid, self.priority)
        } else {
            ListRegister::pending(self.intid, self.priority, self.hardware)
        }
    }
}

fn interface() -> &'static dyn VirtualCpuInterface {
    gic::virtual_interface()
}

fn read_lr(index: usize) -> ListRegister {
    let interface = interface();
    interface.decode(interface.read_raw(index))
}

fn write_lr(index: usize, register: &ListRegister) {
    let interface = interface();
    interface.write_raw(index, interface.encode(register));
}

/// Reads list register `index` as the hardware holds it (for snapshots).
pub fn read_list_register(index: usize) -> u64 {
    interface().read_raw(index)
}

/// Writes list register `index` as the hardware holds it (for snapshots).
pub fn write_list_register(index: usize, value: u64) {
    interface().write_raw(index, value);
}

/// The physical INTID a raw list register value still holds active, if
/// any (see `ListRegister::physical_intid_in_flight`).
pub fn hardware_intid(lr: u64) -> Option<u32> {
    interface().decode(lr).physical_intid_in_flight()
}

/// Number of implemented list registers.
pub fn list_register_count() -> usize {
    interface().list_register_count()
}

/// One pass over the list registers: the first free one, or stops at the
/// first one in use for which `holds` says so (its index and value).
fn scan(mut holds: impl FnMut(&ListRegister) -> bool) -> Scan {
    match gic::concrete() {
        gic::Concrete::V3(interface) => scan_on(interface, |lr, _| holds(lr)),
        gic::Concrete::V2(interface) => scan_on(interface, |lr, _| holds(lr)),
    }
}

/// [`scan`] on one concrete interface: only the list registers in use are
/// read (ELRSR says which are empty); `holds` gets each decoded and raw.
#[inline(always)]
fn scan_on<I: VirtualCpuInterface>(
    interface: &I,
    mut holds: impl FnMut(&ListRegister, u64) -> bool,
) -> Scan {
    let count = interface.list_register_count();
    let implemented = if count >= 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    };
    let empty = interface.empty_list_registers() & implemented;
    let mut used = !empty & implemented;
    while used != 0 {
        let index = used.trailing_zeros() as usize;
        used &= used - 1;
        let raw = interface.read_raw(index);
        let lr = interface.decode(raw);
        if holds(&lr, raw) {
            return Scan::Holds(index, lr, raw);
        }
    }
    match empty {
        0 => Scan::Full,
        empty => Scan::Free(empty.trailing_zeros() as usize),
    }
}

/// What [`scan`] found.
enum Scan {
    /// Index, decoded and raw value.
    Holds(usize, ListRegister, u64),
    Free(usize),
    Full,
}

/// Puts `interrupt` in a free list register, unless it is already pending
/// there. A virtual SGI the list registers already hold is merged into
/// that register instead: never two valid registers with one vINTID.
#[inline(always)]
pub fn try_inject(interrupt: VirtualInterrupt) -> Injection {
    match gic::concrete() {
        gic::Concrete::V3(interface) => try_inject_on(interface, interrupt),
        gic::Concrete::V2(interface) => try_inject_on(interface, interrupt),
    }
}

#[inline(always)]
fn try_inject_on<I: VirtualCpuInterface>(interface: &I, interrupt: VirtualInterrupt) -> Injection {
    let sgi = !interrupt.hardware && interrupt.intid < IntId::PPI_FIRST;
    let held = |lr: &ListRegister, _: u64| {
        if sgi {
            lr.virtual_intid == interrupt.intid && !lr.state.is_invalid()
        } else {
            lr.is_pending(interrupt.intid)
        }
    };
    match scan_on(interface, held) {
        Scan::Holds(..) if !sgi => Injection::Injected,
        Scan::Holds(index, lr, raw) => {
            let source = interface.sgi_source(raw);
            let (rewrite, injection) = match lr.merge_sgi(source == interrupt.source) {
                SgiMerge::Pending(rewrite) => (rewrite, Injection::Injected),
                SgiMerge::Waits(rewrite) => (rewrite, Injection::Chained),
            };
            if let Some(register) = rewrite {
                interface.write_raw(index, interface.encode_from(&register, source));
            }
            injection
        }
        Scan::Free(index) => {
            let register = interrupt.register(interface.hardware_eoi_resignals());
            interface.write_raw(index, interface.encode_from(&register, interrupt.source));
            Injection::Injected
        }
        Scan::Full => Injection::Full,
    }
}

/// What [`inject_virtual`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Now pending in a free list register.
    Injected,
    /// Already in a list register (a virtual SGI: another sender's), not
    /// yet deactivated: an EOI maintenance interrupt is asked for (LR.EOI),
    /// to deliver it again afterwards.
    Chained,
    /// Every list register is busy.
    Full,
}

/// Injects purely virtual (no HW bit) interrupt `intid` at `priority`, in
/// one pass over the list registers; with `eoi_maintenance`, the guest's
/// deactivation raises the maintenance interrupt (a level source is then
/// looked at again).
pub fn inject_virtual(intid: u32, priority: u8, eoi_maintenance: bool) -> Injection {
    let held = |lr: &ListRegister| {
        lr.virtual_intid == intid
            && lr.state != ListRegisterState::Invalid
            && matches!(lr.deactivation, Deactivation::Virtual { .. })
    };
    match scan(held) {
        Scan::Holds(index, mut lr, _) => {
            if let Deactivation::Virtual { eoi_maintenance } = &mut lr.deactivation {
                if !*eoi_maintenance {
                    *eoi_maintenance = true;
                    write_lr(index, &lr);
                }
            }
            Injection::Chained
        }
        Scan::Free(index) => {
            let mut lr = ListRegister::pending(intid, priority, false);
            lr.deactivation = Deactivation::Virtual { eoi_maintenance };
            write_lr(index, &lr);
            Injection::Injected
        }
        Scan::Full => Injection::Full,
    }
}

/// The interrupts the guest deactivated since an EOI maintenance was asked
/// for them: their list registers are freed (they would keep the
/// maintenance interrupt asserted otherwise), physical interrupts among them are
/// deactivated, and `each` is called with every purely virtual one.
#[inline(always)]
pub fn take_eoi_maintenance(each: impl FnMut(u32)) {
    // Checked inline: on the injection paths nothing has ended, mostly.
    let ended = match gic::concrete() {
        gic::Concrete::V3(interface) => interface.ended_list_registers(),
        gic::Concrete::V2(interface) => interface.ended_list_registers(),
    };
    if ended != 0 {
        take_ended(ended, each);
    }
}

#[inline(never)]
fn take_ended(ended: u64, mut each: impl FnMut(u32)) {
    for index in (0..list_register_count()).filter(|index| ended & (1 << index) != 0) {
        let register = read_lr(index);
        interface().write_raw(index, 0);
        match register.deactivated_by_maintenance() {
            // A physical interrupt the guest completed: deactivating it here makes
            // the GIC signal it again if its line is still asserted.
            Some(physical) => gic::deactivate(physical),
            None => each(register.virtual_intid),
        }
    }
}

/// Asks for a maintenance interrupt when the list registers (nearly) drain,
/// so queued interrupts can be refilled.
pub fn request_underflow_interrupt(enabled: bool) {
    interface().request_underflow_interrupt(enabled);
}

/// Turns the virtual CPU interface on, empty, for a freshly started vCPU.
pub fn reset_virtual_interface() {
    clear_list_registers();
    interface().enable();
}

/// The virtual SGIs this core's list registers hold pending (pending, or
/// pending and active), with their sources.
pub fn pending_sgis_in_list_registers() -> Taken {
    let interface = interface();
    let mut held = Taken::default();
    for index in 0..list_register_count() {
        let raw = interface.read_raw(index);
        let lr = interface.decode(raw);
        let pending = matches!(
            lr.state,
            ListRegisterState::Pending | ListRegisterState::PendingActive
        );
        if pending && lr.virtual_intid < IntId::PPI_FIRST {
            held.insert(PendingSgi {
                sgi: lr.virtual_intid,
                source: interface.sgi_source(raw),
            });
        }
    }
    held
}

/// Withdraws the pending state of these virtual SGIs from this core's list
/// registers: a pending one is freed, a pending and active one stays active.
pub fn clear_pending_sgis(pairs: Taken) {
    let interface = interface();
    for index in 0..list_register_count() {
        let raw = interface.read_raw(index);
        let mut lr = interface.decode(raw);
        let source = interface.sgi_source(raw);
        if lr.virtual_intid >= IntId::PPI_FIRST
            || pairs.sources(lr.virtual_intid) & (1 << source) == 0
        {
            continue;
        }
        match lr.state {
            ListRegisterState::Pending => interface.write_raw(index, 0),
            ListRegisterState::PendingActive => {
                lr.state = ListRegisterState::Active;
                interface.write_raw(index, interface.encode_from(&lr, source));
            }
            _ => {}
        }
    }
}

/// Empties every list register; hardware interrupts still in flight are
/// deactivated physically so they can fire again after a reset.
pub fn clear_list_registers() {
    let interface = interface();
    let ended = interface.ended_list_registers();
    for index in 0..list_register_count() {
        let register = read_lr(index);
        // A physical SPI the guest completed whose maintenance is not taken yet is still active too.
        let completed = || {
            (ended & (1 << index) != 0)
                .then(|| register.deactivated_by_maintenance())
                .flatten()
        };
        if let Some(intid) = register.physical_intid_in_flight().or_else(completed) {
            gic::deactivate(intid);
        }
        interface.write_raw(index, 0);
    }
}

/// Turns the virtual CPU interface off (the core has no running vCPU).
pub fn disable_virtual_interface() {
    clear_list_registers();
    interface().disable();
}

/// The physical GIC registers a partition's vGIC model may reach.
pub struct HardwareGic<'a> {
    distributor: u64,
    /// RD_base of the physical redistributor of each vCPU's core (GICv3).
    redistributors: &'a [u64],
    /// GICv2: the MPIDR of each vCPU's core. A vCPU's SGI/PPI registers are
    /// the distributor's banked ones, reachable only from its own core: the
    /// model's redistributor (SGI_base) accesses for a vCPU land there when
    /// this core is that vCPU's, and are dropped otherwise (the vCPU's own
    /// core redoes them when it starts).
    banked_cores: &'a [u64],
    /// Taken at the first physical access, not before: most emulated
    /// reads (GICD_CTLR, TYPER, IIDR, the model's own state) touch no
    /// physical register and so never wait for another partition.
    owner: Option<spin::MutexGuard<'static, ()>>,
}

/// The physical distributor has one owner at a time. Its registers that
/// hold several INTIDs (ICFGR, IGROUPR, IGRPMODR, the enable words read
/// back) are read-modify-written by the vGIC models of different
/// partitions; under this lock no partition's update loses another's bits.
/// Held only for a few MMIO accesses (one emulated register access, or a
/// partition's interrupt reset), never while waiting for anything. Taken
/// after a partition's vGIC lock when both are held (lazily, at the first
/// physical access), never before it.
static DISTRIBUTOR_OWNER: spin::Mutex<()> = spin::Mutex::new(());

impl<'a> HardwareGic<'a> {
    /// The physical GIC, owned from its first access (waiting for the
    /// current owner's few accesses then) for the life of the returned value.
    pub fn new(
        distributor: u64,
        redistributors: &'a [u64],
        banked_cores: &'a [u64],
    ) -> HardwareGic<'a> {
        HardwareGic {
            distributor,
            redistributors,
            banked_cores,
            owner: None,
        }
    }

    #[inline(always)]
    fn own(&mut self) {
        if self.owner.is_none() {
            self.owner = Some(DISTRIBUTOR_OWNER.lock());
        }
    }

    /// GICv2: the distributor address of `vcpu`'s banked copy of the
    /// SGI_base register at `offset`, if this core is `vcpu`'s.
    fn banked(&self, vcpu: usize, offset: u64, width: Width) -> Option<u64> {
        let core = *self.banked_cores.get(vcpu)?;
        let here = super::sysreg::mpidr() & 0xff_00ff_ffff;
        let local = offset.checked_sub(0x1_0000)?;
        (core & 0xff_00ff_ffff == here && in_frame(local, width, 0x1000))
            .then_some(self.distributor + local)
    }
}

/// Reads one byte-wide distributor or redistributor register without taking
/// ownership: a single read of a register no one read-modify-writes
/// (IPRIORITYR is byte-addressable) needs no lock.
pub fn read_priority(base: u64, offset: u64) -> u8 {
    mmio_read(base + offset, Width::Byte) as u8
}

/// Whether SPI `intid` is configured level-sensitive (GICD_ICFGR bit
/// 2n+1 clear) in the distributor at `distributor`. A lone read: no lock.
pub fn spi_is_level(distributor: u64, intid: u32) -> bool {
    let word = mmio_read(distributor + 0xC00 + u64::from(intid / 16) * 4, Width::Word);
    word & (0b10 << ((intid % 16) * 2)) == 0
}

/// Whether SPI `intid` reads pending (GICD_ISPENDR). For a level interrupt
/// that is its line (or a software latch) even while it is active: what
/// the GICv3 architecture specifies and QEMU's model does (the pending
/// latch ORed with the level of a level-sensitive input).
pub fn spi_is_pending(distributor: u64, intid: u32) -> bool {
    let word = mmio_read(distributor + 0x200 + u64::from(intid / 32) * 4, Width::Word);
    word & (1 << (intid % 32)) != 0
}

fn mmio_read(address: u64, width: Width) -> u64 {
    // SAFETY: callers pass addresses inside the GIC's distributor or a
    // redistributor frame, identity-mapped as device memory at EL2; GIC
    // registers have no side effects on read beyond those the architecture defines.
    unsafe {
        match width {
            Width::Byte => u64::from(core::ptr::read_volatile(address as *const u8)),
            Width::Half => u64::from(core::ptr::read_volatile(address as *const u16)),
            Width::Word => u64::from(core::ptr::read_volatile(address as *const u32)),
            Width::Double => core::ptr::read_volatile(address as *const u64),
        }
    }
}

fn mmio_write(address: u64, width: Width, value: u64) {
    // SAFETY: as for `mmio_read`; the vGIC model only lets through writes to
    // INTIDs the calling partition owns.
    unsafe {
        match width {
            Width::Byte => core::ptr::write_volatile(address as *mut u8, value as u8),
            Width::Half => core::ptr::write_volatile(address as *mut u16, value as u16),
            Width::Word => core::ptr::write_volatile(address as *mut u32, value as u32),
            Width::Double => core::ptr::write_volatile(address as *mut u64, value),
        }
    }
}

/// Register offsets are naturally aligned for their width and inside the 64 KiB frames.
fn in_frame(offset: u64, width: Width, frame_size: u64) -> bool {
    let bytes = width.bytes() as u64;
    offset.is_multiple_of(bytes) && offset + bytes <= frame_size
}

impl PhysicalGic for HardwareGic<'_> {
    fn read_distributor(&mut self, offset: u64, width: Width) -> u64 {
        self.own();
        if !in_frame(offset, width, 0x1_0000) {
            return 0;
        }
        mmio_read(self.distributor + offset, width)
    }

    fn write_distributor(&mut self, offset: u64, width: Width, value: u64) {
        self.own();
        if in_frame(offset, width, 0x1_0000) {
            mmio_write(self.distributor + offset, width, value);
        }
    }

    fn read_redistributor(&mut self, vcpu: usize, offset: u64, width: Width) -> u64 {
        self.own();
        if !self.banked_cores.is_empty() {
            return self
                .banked(vcpu, offset, width)
                .map_or(0, |address| mmio_read(address, width));
        }
        match self.redistributors.get(vcpu) {
            Some(&base) if in_frame(offset, width, 0x2_0000) => mmio_read(base + offset, width),
            _ => 0,
        }
    }

    fn write_redistributor(&mut self, vcpu: usize, offset: u64, width: Width, value: u64) {
        self.own();
        if !self.banked_cores.is_empty() {
            if let Some(address) = self.banked(vcpu, offset, width) {
                mmio_write(address, width, value);
            }
            return;
        }
        if let Some(&base) = self.redistributors.get(vcpu) {
            if in_frame(offset, width, 0x2_0000) {
                mmio_write(base + offset, width, value);
            }
        }
    }
}
