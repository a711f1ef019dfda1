//! Trapped GICR accesses: one virtual redistributor per vCPU, SGIs virtual, guest PPIs passed through.

use super::distributor::{priority_lanes, write_priority_lanes, Part};
use super::physical::{PhysicalGic, Width};
use super::registers::{
    GICR_ICACTIVER0, GICR_ICENABLER0, GICR_ICFGR0, GICR_ICFGR1, GICR_ICPENDR0, GICR_ID_FIRST,
    GICR_ID_LAST, GICR_IGROUPR0, GICR_IIDR, GICR_IPRIORITYR0, GICR_IPRIORITYR_SIZE,
    GICR_ISACTIVER0, GICR_ISENABLER0, GICR_ISPENDR0, GICR_PIDR2, GICR_TYPER,
    GICR_TYPER_AFFINITY_SHIFT, GICR_TYPER_LAST, GICR_TYPER_PROCESSOR_NUMBER_SHIFT, GICR_WAKER,
    GUEST_PPIS, GUEST_PPI_MASK, ICFGR_SGIS_EDGE, PIDR2_GICV3, REDISTRIBUTOR_STRIDE, SGI_MASK,
    WAKER_CHILDREN_ASLEEP, WAKER_PROCESSOR_SLEEP,
};
use super::virtual_gic::VirtualGic;

/// A decoded access to one vCPU's redistributor (offset from its RD_base). Anything not listed is RAZ/WI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    ImplementerId,
    Type(Part),
    Waker,
    Identification,
    PeripheralId2,
    /// IGROUPR0: SGIs and guest PPIs read as group 1, writes ignored.
    Group,
    /// ISENABLER0 (`set`) or ICENABLER0: SGIs virtual, guest PPIs passed through.
    Enable {
        set: bool,
    },
    /// IS/IC PENDR0 and ACTIVER0: SGIs RAZ/WI (their state lives in list registers), guest PPIs passed through.
    PpiState,
    /// IPRIORITYR0..7 bytes from INTID `first` on (byte or word access).
    Priority {
        first: u32,
    },
    /// ICFGR0: SGIs are always edge-triggered.
    SgiConfig,
    /// ICFGR1: guest PPI fields passed through.
    PpiConfig,
    Ignored,
}

fn decode(local: u64, width: Width) -> Register {
    let word = width == Width::Word;
    match (local, width) {
        (GICR_TYPER, Width::Double) => return Register::Type(Part::Whole),
        (GICR_TYPER, Width::Word) => return Register::Type(Part::Low),
        (offset, Width::Word) if offset == GICR_TYPER + 4 => return Register::Type(Part::High),
        _ => {}
    }
    match local {
        GICR_IIDR if word => Register::ImplementerId,
        GICR_WAKER if word => Register::Waker,
        GICR_PIDR2 if word => Register::PeripheralId2,
        GICR_ID_FIRST..=GICR_ID_LAST if word => Register::Identification,
        GICR_IGROUPR0 if word => Register::Group,
        GICR_ISENABLER0 if word => Register::Enable { set: true },
        GICR_ICENABLER0 if word => Register::Enable { set: false },
        GICR_ISPENDR0 | GICR_ICPENDR0 | GICR_ISACTIVER0 | GICR_ICACTIVER0 if word => {
            Register::PpiState
        }
        GICR_ICFGR0 if word => Register::SgiConfig,
        GICR_ICFGR1 if word => Register::PpiConfig,
        offset
            if (GICR_IPRIORITYR0..GICR_IPRIORITYR0 + GICR_IPRIORITYR_SIZE).contains(&offset)
                && matches!(width, Width::Byte | Width::Word) =>
        {
            Register::Priority {
                first: (offset - GICR_IPRIORITYR0) as u32,
            }
        }
        _ => Register::Ignored,
    }
}

fn is_guest_ppi(intid: u32) -> bool {
    GUEST_PPIS.contains(&intid)
}

/// Guest PPI fields (0b11 each) of ICFGR1, which covers INTIDs 16..=31.
fn ppi_config_fields() -> u64 {
    GUEST_PPIS
        .iter()
        .fold(0, |fields, &ppi| fields | 0b11 << ((ppi - 16) * 2))
}

impl VirtualGic {
    /// The vCPU and offset from its RD_base of an aligned access inside the region.
    fn locate(&self, offset: u64, width: Width) -> Option<(usize, u64)> {
        if !width.aligned(offset) {
            return None;
        }
        let vcpu = usize::try_from(offset / REDISTRIBUTOR_STRIDE).ok()?;
        (vcpu < self.vcpu_count()).then_some((vcpu, offset % REDISTRIBUTOR_STRIDE))
    }

    /// A guest read at `offset` from the start of the virtual redistributor region
    /// (vCPU = offset / REDISTRIBUTOR_STRIDE).
    pub fn redistributor_read(
        &mut self,
        gic: &mut impl PhysicalGic,
        offset: u64,
        width: Width,
    ) -> u64 {
        match self.locate(offset, width) {
            Some((vcpu, local)) => self.read_redistributor_register(gic, vcpu, local, width),
            None => 0,
        }
    }

    /// A guest write at `offset` from the start of the virtual redistributor region.
    pub fn redistributor_write(
        &mut self,
        gic: &mut impl PhysicalGic,
        offset: u64,
        width: Width,
        value: u64,
    ) {
        let Some((vcpu, local)) = self.locate(offset, width) else {
            return;
        };
        let value = value & width.mask();
        let ppis = u64::from(GUEST_PPI_MASK);
        match decode(local, width) {
            Register::Waker => {
                self.vcpus[vcpu].processor_sleep = value as u32 & WAKER_PROCESSOR_SLEEP != 0;
            }
            Register::Enable { set } => {
                let sgis = (value & u64::from(SGI_MASK)) as u16;
                let state = &mut self.vcpus[vcpu];
                if set {
                    state.sgi_enabled |= sgis;
                } else {
                    state.sgi_enabled &= !sgis;
                }
                if value & ppis != 0 {
                    gic.write_redistributor(vcpu, local, Width::Word, value & ppis);
                }
            }
            Register::PpiState => {
                if value & ppis != 0 {
                    gic.write_redistributor(vcpu, local, Width::Word, value & ppis);
                }
            }
            Register::Priority { first } => {
                for lane in 0..width.bytes() as u32 {
                    if let Some(priority) = self.vcpus[vcpu]
                        .sgi_priority
                        .get_mut((first + lane) as usize)
                    {
                        *priority = (value >> (lane * 8)) as u8;
                    }
                }
                let lanes = priority_lanes(first, width, is_guest_ppi);
                write_priority_lanes(width, lanes, value, |lane, width, value| {
                    gic.write_redistributor(vcpu, local + lane, width, value)
                });
            }
            Register::PpiConfig => {
                let fields = ppi_config_fields();
                let current = gic.read_redistributor(vcpu, local, Width::Word);
                let merged = (current & !fields) | (value & fields);
                gic.write_redistributor(vcpu, local, Width::Word, merged);
            }
            Register::ImplementerId
            | Register::Type(_)
            | Register::Identification
            | Register::PeripheralId2
            | Register::Group
            | Register::SgiConfig
            | Register::Ignored => {}
        }
    }

    fn read_redistributor_register(
        &mut self,
        gic: &mut impl PhysicalGic,
        vcpu: usize,
        local: u64,
        width: Width,
    ) -> u64 {
        let ppis = u64::from(GUEST_PPI_MASK);
        let state = self.vcpus[vcpu];
        let value = match decode(local, width) {
            Register::ImplementerId | Register::Identification => {
                gic.read_redistributor(vcpu, local, Width::Word)
            }
            Register::PeripheralId2 => PIDR2_GICV3,
            Register::Type(part) => part.extract(self.redistributor_type(vcpu)),
            Register::Waker if state.processor_sleep => {
                u64::from(WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP)
            }
            Register::Waker => 0,
            Register::Group => u64::from(SGI_MASK) | ppis,
            Register::Enable { .. } => {
                let physical = gic.read_redistributor(vcpu, local, Width::Word);
                u64::from(state.sgi_enabled) | (physical & ppis)
            }
            Register::PpiState => gic.read_redistributor(vcpu, local, Width::Word) & ppis,
            Register::Priority { first } => {
                let virtual_bytes = (0..width.bytes() as u32)
                    .filter_map(|lane| {
                        let priority = state.sgi_priority.get((first + lane) as usize)?;
                        Some(u64::from(*priority) << (lane * 8))
                    })
                    .fold(0, |bytes, byte| bytes | byte);
                let physical = match priority_lanes(first, width, is_guest_ppi) {
                    0 => 0,
                    lanes => gic.read_redistributor(vcpu, local, width) & lanes,
                };
                virtual_bytes | physical
            }
            Register::SgiConfig => ICFGR_SGIS_EDGE,
            Register::PpiConfig => {
                gic.read_redistributor(vcpu, local, Width::Word) & ppi_config_fields()
            }
            Register::Ignored => 0,
        };
        value & width.mask()
    }

    /// GICR_TYPER of `vcpu`'s virtual redistributor: its virtual affinity, its
    /// index as Processor_Number, Last on the final one, no LPIs.
    fn redistributor_type(&self, vcpu: usize) -> u64 {
        let affinity = Self::virtual_affinity(vcpu);
        // GICR_TYPER packs Aff3.Aff2.Aff1.Aff0 into 32 bits.
        let packed = (affinity & 0xFF_FFFF) | ((affinity >> 32) & 0xFF) << 24;
        let last = if vcpu + 1 == self.vcpu_count() {
            GICR_TYPER_LAST
        } else {
            0
        };
        (packed << GICR_TYPER_AFFINITY_SHIFT)
            | ((vcpu as u64 & 0xFFFF) << GICR_TYPER_PROCESSOR_NUMBER_SHIFT)
            | last
    }
}
