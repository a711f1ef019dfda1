//! Trapped GICv2 distributor accesses: the registers GICv2 lays out differently, translated onto the version-neutral model.
//!
//! A GICv2 distributor holds what GICv3 splits off into redistributors: the
//! SGI/PPI registers (bank register 0, IPRIORITYR0..7, ICFGR0..1) are
//! banked per CPU in the distributor itself. They go to the model's
//! per-vCPU (redistributor) path for the accessing vCPU, at the same offsets
//! from SGI_base; the hypervisor reaches the physical ones on that vCPU's
//! own core, where the trap is taken. What exists only in GICv2 is handled
//! here: GICD_ITARGETSR (translated between vCPUs and the partition's own
//! CPU interfaces) and GICD_SGIR (virtual SGIs to the partition's own
//! vCPUs). The rest (SPI enables, pending, active, priorities,
//! configuration) has the GICv3 layout and goes to the shared decoder.

use super::physical::{PhysicalGic, Width};
use super::registers::{
    BIT_BANK_SIZE, CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, GICD_CTLR, GICD_ICFGR, GICD_IGROUPR,
    GICD_IPRIORITYR, GICD_TYPER, INTID_COUNT, SGI_BASE, TYPER_CPU_NUMBER_SHIFT,
    TYPER_IT_LINES_NUMBER,
};
use super::virtual_gic::VirtualGic;
use crate::decode::gicv2::{targets_to_physical, targets_to_virtual, DistributorSgi};
use crate::pending_sgis::{PendingSgi, Taken};

/// The GICv2 distributor frame a guest sees (GICD is 4 KiB).
pub const DISTRIBUTOR_V2_SIZE: u64 = 0x1000;
const GICD_ITARGETSR: u64 = 0x800;
/// ITARGETSR0..7: the SGIs' and PPIs' bytes, read-only.
const PRIVATE_TARGETS_END: u64 = GICD_ITARGETSR + 32;
/// GICD_SGIR: a GICv2 guest's SGI generation register.
pub const GICD_SGIR: u64 = 0xF00;
/// GICD_CPENDSGIR0..3 and SPENDSGIR0..3 (0xF10..0xF2F): a byte per SGI,
/// a bit per source CPU, of the accessing vCPU's pending SGIs (kept by
/// the hypervisor beside the list registers, not in this model).
const GICD_CPENDSGIR: u64 = 0xF10;
const GICD_SPENDSGIR: u64 = 0xF20;
const GICD_SGI_PENDING_END: u64 = 0xF30;
/// GICv2's ICPIDR2 (0xFE8): ArchRev 2.
const GICD_ICPIDR2: u64 = 0xFE8;
const PIDR2_GICV2: u64 = 0x2B;

/// What a GICv2 distributor write asks the hypervisor to do beyond the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DistributorV2Effect {
    None,
    /// A GICD_SGIR write: virtual SGI `intid` to the vCPUs in `vcpus` (bit
    /// `i`: vCPU `i`), already restricted to the partition's own.
    Sgi {
        intid: u8,
        vcpus: u8,
    },
    /// A GICD_SPENDSGIR (`set`) or GICD_CPENDSGIR write: these (SGI,
    /// source) pairs become, or stop being, pending on the accessing vCPU.
    SgiPending {
        set: bool,
        pairs: Taken,
    },
}

/// A read of GICD_CPENDSGIRn/SPENDSGIRn at `offset`: the bytes of the
/// accessing vCPU's pending SGIs (`pending`, asked for only then); None for
/// any other register.
pub fn sgi_pending_read(offset: u64, width: Width, pending: impl FnOnce() -> Taken) -> Option<u64> {
    let (_, first) = sgi_pending_register(offset, width)?;
    let pending = pending();
    let value = (0..width.bytes() as u32).fold(0u64, |value, lane| {
        value | u64::from(pending.sources(first + lane)) << (lane * 8)
    });
    Some(value)
}

/// Whether `offset` is in SPENDSGIR (true) or CPENDSGIR, and its first SGI.
fn sgi_pending_register(offset: u64, width: Width) -> Option<(bool, u32)> {
    if !matches!(width, Width::Byte | Width::Word) || !width.aligned(offset) {
        return None;
    }
    match offset {
        GICD_CPENDSGIR..GICD_SPENDSGIR => Some((false, (offset - GICD_CPENDSGIR) as u32)),
        GICD_SPENDSGIR..GICD_SGI_PENDING_END => Some((true, (offset - GICD_SPENDSGIR) as u32)),
        _ => None,
    }
}

/// Where a GICv2 distributor access goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Control,
    Type,
    PeripheralId2,
    /// A banked SGI/PPI register: the accessing vCPU's, at SGI_base + offset.
    Private,
    /// ITARGETSR0..7: the accessing vCPU's own bit in every byte.
    PrivateTargets,
    /// ITARGETSR8..254: the targets of SPIs from `first`, byte or word.
    Targets {
        first: u32,
    },
    Sgi,
    Ignored,
    /// Same layout as GICv3's distributor.
    Shared,
}

fn route(offset: u64, width: Width) -> Route {
    if !width.aligned(offset) || offset >= DISTRIBUTOR_V2_SIZE {
        return Route::Ignored;
    }
    let word = width == Width::Word;
    let byte_or_word = matches!(width, Width::Byte | Width::Word);
    let in_bank_zero = |base: u64| offset == base && word;
    match offset {
        GICD_CTLR if word => Route::Control,
        GICD_TYPER if word => Route::Type,
        GICD_ICPIDR2 if word => Route::PeripheralId2,
        GICD_SGIR if word => Route::Sgi,
        GICD_ITARGETSR..PRIVATE_TARGETS_END if byte_or_word => Route::PrivateTargets,
        PRIVATE_TARGETS_END..0xC00 if byte_or_word => Route::Targets {
            first: (offset - GICD_ITARGETSR) as u32,
        },
        GICD_SGIR..GICD_SGI_PENDING_END => Route::Ignored,
        _ if (0..7).any(|bank| in_bank_zero(GICD_IGROUPR + bank * BIT_BANK_SIZE)) => Route::Private,
        _ if (GICD_IPRIORITYR..GICD_IPRIORITYR + 32).contains(&offset) && byte_or_word => {
            Route::Private
        }
        _ if (offset == GICD_ICFGR || offset == GICD_ICFGR + 4) && word => Route::Private,
        // Reserved or GICv3-only (IROUTER, GICv3 identification): nothing.
        0xC00.. if offset >= GICD_ICFGR + 0x100 => Route::Ignored,
        _ => Route::Shared,
    }
}

impl VirtualGic {
    /// A GICv2 guest's read of its distributor at `offset`, by vCPU `vcpu`.
    pub fn distributor_v2_read(
        &mut self,
        gic: &mut impl PhysicalGic,
        vcpu: usize,
        offset: u64,
        width: Width,
    ) -> u64 {
        let value = match route(offset, width) {
            Route::Control => u64::from(self.distributor_control & 0b11),
            Route::Type => {
                let physical = gic.read_distributor(GICD_TYPER, Width::Word) as u32;
                let lines = if self.virtual_spis.present != 0 {
                    TYPER_IT_LINES_NUMBER
                } else {
                    physical & TYPER_IT_LINES_NUMBER
                };
                let cpus = self.vcpu_count().clamp(1, 8) as u32;
                u64::from(lines | (cpus - 1) << TYPER_CPU_NUMBER_SHIFT)
            }
            Route::PeripheralId2 => PIDR2_GICV2,
            Route::Private => {
                self.redistributor_read(gic, self.private_offset(vcpu, offset), width)
            }
            Route::PrivateTargets => {
                let own = if vcpu < 8 { 1u64 << vcpu } else { 0 };
                own * 0x0101_0101
            }
            Route::Targets { first } => {
                let mut value = 0;
                for lane in 0..width.bytes() as u32 {
                    value |= u64::from(self.spi_targets(gic, first + lane)) << (lane * 8);
                }
                value
            }
            Route::Sgi | Route::Ignored => 0,
            Route::Shared => self.distributor_read(gic, offset, width),
        };
        value & width.mask()
    }

    /// A GICv2 guest's write of its distributor at `offset`, by vCPU `vcpu`.
    pub fn distributor_v2_write(
        &mut self,
        gic: &mut impl PhysicalGic,
        vcpu: usize,
        offset: u64,
        width: Width,
        value: u64,
    ) -> DistributorV2Effect {
        let value = value & width.mask();
        if let Some((set, first)) = sgi_pending_register(offset, width) {
            let mut pairs = Taken::default();
            for lane in 0..width.bytes() as u32 {
                let sources = (value >> (lane * 8)) as u8;
                for source in (0..8u8).filter(|source| sources & (1 << source) != 0) {
                    pairs.insert(PendingSgi {
                        sgi: first + lane,
                        source,
                    });
                }
            }
            return match pairs.is_empty() {
                true => DistributorV2Effect::None,
                false => DistributorV2Effect::SgiPending { set, pairs },
            };
        }
        match route(offset, width) {
            Route::Control => {
                self.distributor_control = value as u32 & (CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1);
            }
            Route::Private => {
                let local = self.private_offset(vcpu, offset);
                self.redistributor_write(gic, local, width, value);
            }
            Route::Targets { first } => {
                for lane in 0..width.bytes() as u32 {
                    let byte = (value >> (lane * 8)) as u8;
                    self.set_spi_targets(gic, first + lane, byte);
                }
            }
            Route::Sgi => {
                let request = DistributorSgi::decode(value as u32);
                let vcpus = request.named_vcpus(vcpu, self.vcpu_count());
                if vcpus != 0 {
                    return DistributorV2Effect::Sgi {
                        intid: request.intid,
                        vcpus,
                    };
                }
            }
            Route::Type | Route::PeripheralId2 | Route::PrivateTargets | Route::Ignored => {}
            Route::Shared => self.distributor_write(gic, offset, width, value),
        }
        DistributorV2Effect::None
    }

    /// The offset in the model's redistributor region of vCPU `vcpu`'s copy
    /// of the banked distributor register at `offset`.
    fn private_offset(&self, vcpu: usize, offset: u64) -> u64 {
        vcpu as u64 * super::registers::REDISTRIBUTOR_STRIDE + SGI_BASE + offset
    }

    /// The guest's view of SPI `intid`'s ITARGETSR byte.
    fn spi_targets(&self, gic: &mut impl PhysicalGic, intid: u32) -> u8 {
        if let Some(slot) = self.virtual_spis.slot(intid) {
            let route = self.virtual_spis.route[slot];
            return if route < 8 { 1 << route } else { 0 };
        }
        if intid >= INTID_COUNT || !self.ownership.owns_spi(intid) {
            return 0;
        }
        let physical = gic.read_distributor(GICD_ITARGETSR + u64::from(intid), Width::Byte) as u8;
        targets_to_virtual(physical, self.cpu_interfaces())
    }

    /// A guest write of SPI `intid`'s ITARGETSR byte: only the partition's
    /// own cores can be named (others' bits are dropped).
    fn set_spi_targets(&mut self, gic: &mut impl PhysicalGic, intid: u32, targets: u8) {
        if let Some(slot) = self.virtual_spis.slot(intid) {
            // One vCPU takes a virtual SPI: the lowest named, or vCPU 0.
            let present = (1u16 << self.vcpu_count().min(8)) - 1;
            let named = targets & present as u8;
            self.virtual_spis.route[slot] = if named == 0 {
                0
            } else {
                named.trailing_zeros() as u8
            };
            return;
        }
        if intid >= INTID_COUNT || !self.ownership.owns_spi(intid) {
            return;
        }
        let physical = targets_to_physical(targets, self.cpu_interfaces());
        gic.write_distributor(
            GICD_ITARGETSR + u64::from(intid),
            Width::Byte,
            u64::from(physical),
        );
    }

    /// The physical ITARGETSR byte that sends an SPI to vCPU 0's core (reset).
    pub(super) fn reset_targets(&self) -> u8 {
        targets_to_physical(1, self.cpu_interfaces())
    }

    /// The SPI-target offset of `intid` in the physical distributor.
    pub(super) const fn targets_offset(intid: u32) -> u64 {
        GICD_ITARGETSR + intid as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_route_by_gicv2_layout() {
        assert_eq!(route(0x000, Width::Word), Route::Control);
        assert_eq!(route(0x004, Width::Word), Route::Type);
        assert_eq!(route(0x100, Width::Word), Route::Private);
        assert_eq!(route(0x104, Width::Word), Route::Shared);
        assert_eq!(route(0x380, Width::Word), Route::Private);
        assert_eq!(route(0x41f, Width::Byte), Route::Private);
        assert_eq!(route(0x420, Width::Word), Route::Shared);
        assert_eq!(route(0x800, Width::Word), Route::PrivateTargets);
        assert_eq!(route(0x820, Width::Byte), Route::Targets { first: 32 });
        assert_eq!(route(0x824, Width::Word), Route::Targets { first: 36 });
        assert_eq!(route(0xC00, Width::Word), Route::Private);
        assert_eq!(route(0xC04, Width::Word), Route::Private);
        assert_eq!(route(0xC08, Width::Word), Route::Shared);
        assert_eq!(route(0xF00, Width::Word), Route::Sgi);
        assert_eq!(route(0xF10, Width::Word), Route::Ignored);
        assert_eq!(route(0xFE8, Width::Word), Route::PeripheralId2);
        // GICv3-only registers and misaligned or out-of-frame accesses do nothing.
        assert_eq!(route(0x1000, Width::Word), Route::Ignored);
        assert_eq!(route(0x6100, Width::Double), Route::Ignored);
        assert_eq!(route(0x802, Width::Word), Route::Ignored);
        assert_eq!(route(0xF00, Width::Byte), Route::Ignored);
        assert_eq!(route(0xD00, Width::Word), Route::Ignored);
    }
}
