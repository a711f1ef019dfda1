//! The interrupt controller behind one seam: the physical controller and the virtual CPU interface, GICv3 or GICv2.
//!
//! Bulkhead routes every physical IRQ to EL2 (HCR_EL2.IMO). Its own are
//! [`KICK_SGI`], which one core sends another to make it leave its guest
//! (partition stop/reset), leave its idle loop (CPU_ON) or look at newly
//! queued virtual interrupts, the maintenance PPI and the EL2 timer. Guest
//! interrupts are acknowledged here and injected by `crate::irq`.
//!
//! Which GIC the board has is read from its DT at boot ([`install`]); one
//! image serves both. Callers use the free functions below, which go
//! through [`InterruptController`] and [`VirtualCpuInterface`]; the
//! version-neutral list-register algorithms are in `vgic_hw`.

pub mod v2;
pub mod v3;

use bulkhead_core::decode::ListRegister;
use bulkhead_core::intid::IntId;

pub use v2::GicV2;
pub use v3::GicV3;

/// The SGI Bulkhead uses between its own cores.
pub const KICK_SGI: u32 = 8;
/// The GIC maintenance interrupt (PPI 9): list registers need refilling.
pub const MAINTENANCE_PPI: u32 = 25;

/// The physical controller as Bulkhead drives it from any core.
pub trait InterruptController: Sync {
    /// Brings up this core's part of the controller (redistributor or CPU
    /// interface) with Bulkhead's own private interrupts enabled.
    fn init_this_cpu(&self) -> Result<(), &'static str>;
    /// Acknowledges the highest-priority pending interrupt, if any.
    fn acknowledge(&self) -> Option<IntId>;
    /// Drops the running priority (EOImode 1: the interrupt stays active).
    fn end_of_interrupt(&self, intid: IntId);
    /// Deactivates an interrupt whose priority was already dropped.
    fn deactivate(&self, intid: IntId);
    /// Sends [`KICK_SGI`] to the core with physical MPIDR `mpidr`.
    fn send_kick(&self, mpidr: u64);
}

/// The virtual CPU interface of the current core: list registers in the
/// version's own encoding, and the controls around them.
pub trait VirtualCpuInterface: Sync {
    /// Number of implemented list registers.
    fn list_register_count(&self) -> usize;
    /// List register `index` as the hardware holds it (snapshots keep these).
    fn read_raw(&self, index: usize) -> u64;
    fn write_raw(&self, index: usize, value: u64);
    /// A raw list register value in the version-neutral form.
    fn decode(&self, raw: u64) -> ListRegister;
    fn encode(&self, register: &ListRegister) -> u64;
    /// Bit `n` set: list register `n` holds nothing (ELRSR).
    fn empty_list_registers(&self) -> u64;
    /// Bit `n` set: list register `n` asked for an EOI maintenance and was deactivated (EISR).
    fn ended_list_registers(&self) -> u64;
    /// Asks for (or stops asking for) the maintenance interrupt on underflow.
    fn request_underflow_interrupt(&self, enabled: bool);
    /// Turns the interface on with no active priorities and a reset VMCR.
    fn enable(&self);
    /// Turns the interface off.
    fn disable(&self);
    /// The guest's CPU interface state beside the list registers (its
    /// VMCR and active priorities), for snapshots.
    fn save_state(&self) -> [u64; 3];
    fn restore_state(&self, state: [u64; 3]);
    /// Whether the guest's EOI of a hardware-backed PPI or SPI (HW = 1)
    /// makes the physical GIC signal it again at once when its line is
    /// still asserted, as the architecture says. Where it does not (see
    /// `QEMU_GICV2_IIDR`), they go in as EOI-maintenance list registers and
    /// Bulkhead deactivates them itself on that maintenance.
    fn hardware_eoi_resignals(&self) -> bool {
        true
    }
    /// [`Self::encode`] of a virtual SGI sent by vCPU `source`: a GICv2
    /// list register carries it (CPUID, bits 12:10); a GICv3 one has no such field.
    fn encode_from(&self, register: &ListRegister, _source: u8) -> u64 {
        self.encode(register)
    }
    /// The source a raw list register gives a virtual SGI (0 on a GICv3).
    fn sgi_source(&self, _raw: u64) -> u8 {
        0
    }
}

/// The controller found on the board.
enum Installed {
    V3(GicV3),
    V2(GicV2),
}

static INSTALLED: spin::Once<Installed> = spin::Once::new();

/// What is used before [`install`] ran: the GICv3 system-register
/// interface, which needs no addresses (nothing calls this before the boot
/// CPU installed the board's GIC; the fallback only keeps that total).
static FALLBACK: GicV3 = GicV3 {
    redistributors: 0,
    redistributors_size: 0,
};

/// Records the board's GIC. Boot CPU, once, before any other core runs.
pub fn install_v3(gic: GicV3) {
    INSTALLED.call_once(|| Installed::V3(gic));
}

/// Records the board's GIC. Boot CPU, once, before any other core runs.
pub fn install_v2(gic: GicV2) {
    INSTALLED.call_once(|| Installed::V2(gic));
}

/// The GICv2 if that is what the board has.
pub fn v2() -> Option<&'static GicV2> {
    match INSTALLED.get() {
        Some(Installed::V2(gic)) => Some(gic),
        _ => None,
    }
}

fn controller() -> &'static dyn InterruptController {
    match INSTALLED.get() {
        Some(Installed::V2(gic)) => gic,
        Some(Installed::V3(gic)) => gic,
        None => &FALLBACK,
    }
}

/// The installed GIC as its concrete type, for hot paths that dispatch
/// once per operation and let the version's code inline (an injection
/// reads several list registers; through the trait object each read is a
/// call).
pub enum Concrete {
    V3(&'static GicV3),
    V2(&'static GicV2),
}

pub fn concrete() -> Concrete {
    match INSTALLED.get() {
        Some(Installed::V2(gic)) => Concrete::V2(gic),
        Some(Installed::V3(gic)) => Concrete::V3(gic),
        None => Concrete::V3(&FALLBACK),
    }
}

/// The current core's virtual CPU interface.
pub fn virtual_interface() -> &'static dyn VirtualCpuInterface {
    match INSTALLED.get() {
        Some(Installed::V2(gic)) => gic,
        Some(Installed::V3(gic)) => gic,
        None => &FALLBACK,
    }
}

/// Brings up this core's part of the GIC.
pub fn init_this_cpu() -> Result<(), &'static str> {
    controller().init_this_cpu()
}

/// Runs `$call` on the installed controller as its concrete type (on the
/// interrupt path: the version's code inlines, no trait-object call).
macro_rules! on_concrete {
    ($gic:ident => $call:expr) => {
        match concrete() {
            Concrete::V3($gic) => $call,
            Concrete::V2($gic) => $call,
        }
    };
}

/// Acknowledges the highest-priority pending interrupt, if any.
pub fn acknowledge() -> Option<u32> {
    on_concrete!(gic => gic.acknowledge()).map(IntId::raw)
}

/// Drops the running priority (EOImode 1: the interrupt stays active).
pub fn end_of_interrupt(intid: u32) {
    on_concrete!(gic => gic.end_of_interrupt(IntId::new(intid)));
}

/// Deactivates an interrupt whose priority was already dropped.
pub fn deactivate(intid: u32) {
    on_concrete!(gic => gic.deactivate(IntId::new(intid)));
}

/// Sends [`KICK_SGI`] to the core with physical MPIDR `mpidr`.
pub fn send_kick(mpidr: u64) {
    on_concrete!(gic => gic.send_kick(mpidr));
}
