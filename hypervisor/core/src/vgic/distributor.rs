//! Trapped GICD accesses: decode the register, let owned INTIDs' bits through, emulate the rest.

use super::physical::{PhysicalGic, Width};
use super::registers::{
    BIT_BANK_SIZE, CTLR_ARE, CTLR_DS, CTLR_ENABLE_GRP0, CTLR_ENABLE_GRP1, DISTRIBUTOR_SIZE,
    FIRST_SPI, GICD_CTLR, GICD_ICACTIVER, GICD_ICENABLER, GICD_ICFGR, GICD_ICPENDR, GICD_ID_FIRST,
    GICD_ID_LAST, GICD_IGROUPR, GICD_IIDR, GICD_IPRIORITYR, GICD_IROUTER, GICD_ISACTIVER,
    GICD_ISENABLER, GICD_ISPENDR, GICD_PIDR2, GICD_TYPER, ICFGR_BANK_SIZE, INTID_COUNT,
    IROUTER_IRM, LAST_SPI, PIDR2_GICV3, TYPER_CPU_NUMBER_SHIFT, TYPER_ID_BITS,
    TYPER_IT_LINES_NUMBER, TYPER_NO1N,
};
use super::virtual_gic::VirtualGic;

/// Which part of a 64-bit register an access covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Whole,
    Low,
    High,
}

impl Part {
    /// `value` as the access sees it.
    pub(super) fn extract(self, value: u64) -> u64 {
        match self {
            Part::Whole => value,
            Part::Low => value & 0xFFFF_FFFF,
            Part::High => value >> 32,
        }
    }

    /// `current` with the accessed part replaced by `value`.
    pub(super) fn merge(self, current: u64, value: u64) -> u64 {
        match self {
            Part::Whole => value,
            Part::Low => (current & !0xFFFF_FFFF) | (value & 0xFFFF_FFFF),
            Part::High => (current & 0xFFFF_FFFF) | (value << 32),
        }
    }
}

/// A decoded distributor access. Anything not listed is RAZ/WI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    Control,
    Type,
    ImplementerId,
    /// IGROUPR<n>: owned SPIs read as group 1, writes ignored.
    Group {
        register: usize,
    },
    /// IS/IC ENABLER, PENDR, ACTIVER <n> (n >= 1): write-1-to-set/clear, masked pass-through.
    Bank {
        register: usize,
    },
    /// IPRIORITYR bytes from INTID `first` on (byte or word access).
    Priority {
        first: u32,
    },
    /// ICFGR<n>: two bits per INTID, read-modify-write of owned fields.
    Config {
        register: usize,
    },
    /// IROUTER<intid>, whole or one half.
    Route {
        intid: u32,
        part: Part,
    },
    /// PIDR/CIDR other than PIDR2.
    Identification,
    PeripheralId2,
    Ignored,
}

/// Index of the 32-bit register in a bank at `base` covering `size` bytes, for word accesses.
fn bank_register(offset: u64, width: Width, base: u64, size: u64) -> Option<usize> {
    let inside = offset.checked_sub(base).filter(|&local| local < size)?;
    (width == Width::Word).then_some((inside / 4) as usize)
}

fn decode(offset: u64, width: Width) -> Register {
    if !width.aligned(offset) || offset >= DISTRIBUTOR_SIZE {
        return Register::Ignored;
    }
    let word = width == Width::Word;
    match offset {
        GICD_CTLR if word => return Register::Control,
        GICD_TYPER if word => return Register::Type,
        GICD_IIDR if word => return Register::ImplementerId,
        GICD_PIDR2 if word => return Register::PeripheralId2,
        GICD_ID_FIRST..=GICD_ID_LAST if word => return Register::Identification,
        _ => {}
    }
    if let Some(register) = bank_register(offset, width, GICD_IGROUPR, BIT_BANK_SIZE) {
        return Register::Group { register };
    }
    let banks = [
        GICD_ISENABLER,
        GICD_ICENABLER,
        GICD_ISPENDR,
        GICD_ICPENDR,
        GICD_ISACTIVER,
        GICD_ICACTIVER,
    ];
    for base in banks {
        if let Some(register) = bank_register(offset, width, base, BIT_BANK_SIZE) {
            // Register 0 covers SGIs and PPIs, which live in the redistributors (ARE = 1).
            return match register {
                0 => Register::Ignored,
                register => Register::Bank { register },
            };
        }
    }
    if let Some(register) = bank_register(offset, width, GICD_ICFGR, ICFGR_BANK_SIZE) {
        return Register::Config { register };
    }
    let priorities = GICD_IPRIORITYR..GICD_IPRIORITYR + u64::from(INTID_COUNT);
    if priorities.contains(&offset) && matches!(width, Width::Byte | Width::Word) {
        return Register::Priority {
            first: (offset - GICD_IPRIORITYR) as u32,
        };
    }
    let routes =
        GICD_IROUTER + u64::from(FIRST_SPI) * 8..GICD_IROUTER + (u64::from(LAST_SPI) + 1) * 8;
    if routes.contains(&offset) {
        let intid = ((offset - GICD_IROUTER) / 8) as u32;
        let part = match (width, offset % 8) {
            (Width::Double, _) => Part::Whole,
            (Width::Word, 0) => Part::Low,
            (Width::Word, _) => Part::High,
            _ => return Register::Ignored,
        };
        return Register::Route { intid, part };
    }
    Register::Ignored
}

/// Byte lanes (0xFF per byte) of a priority access from `first` whose INTIDs pass `owned`.
pub(super) fn priority_lanes(first: u32, width: Width, owned: impl Fn(u32) -> bool) -> u64 {
    (0..width.bytes() as u32)
        .filter(|&lane| owned(first + lane))
        .fold(0, |lanes, lane| lanes | 0xFF << (lane * 8))
}

/// Writes the byte lanes of `value` selected by `lanes` with one access when all
/// are selected, else one byte access each (the GIC allows byte writes to priorities,
/// and they leave other owners' bytes untouched without a read-modify-write).
pub(super) fn write_priority_lanes(
    width: Width,
    lanes: u64,
    value: u64,
    mut write: impl FnMut(u64, Width, u64),
) {
    if lanes == width.mask() {
        write(0, width, value);
        return;
    }
    for lane in 0..width.bytes() as u64 {
        if lanes & (0xFF << (lane * 8)) != 0 {
            write(lane, Width::Byte, (value >> (lane * 8)) & 0xFF);
        }
    }
}

impl VirtualGic {
    /// A guest read of its distributor at `offset`.
    pub fn distributor_read(
        &mut self,
        gic: &mut impl PhysicalGic,
        offset: u64,
        width: Width,
    ) -> u64 {
        self.read_distributor_register(gic, offset, width) & width.mask()
    }

    /// A guest write of `value` to its distributor at `offset`.
    pub fn distributor_write(
        &mut self,
        gic: &mut impl PhysicalGic,
        offset: u64,
        width: Width,
        value: u64,
    ) {
        let value = value & width.mask();
        match decode(offset, width) {
            Register::Control => {
                self.distributor_control = value as u32 & (CTLR_ENABLE_GRP0 | CTLR_ENABLE_GRP1);
            }
            Register::Bank { register } => {
                let bits = value & u64::from(self.ownership.bank_mask(register));
                // Zero bits do nothing in a set/clear register: skip the access.
                if bits != 0 {
                    gic.write_distributor(offset, Width::Word, bits);
                }
                let slots = self.virtual_spis.slots_of_bank(register, value as u32);
                let spis = &mut self.virtual_spis;
                match offset & !(BIT_BANK_SIZE - 1) {
                    GICD_ISENABLER => spis.enabled |= slots,
                    GICD_ICENABLER => spis.enabled &= !slots,
                    GICD_ISPENDR => spis.latched |= slots,
                    GICD_ICPENDR => spis.latched &= !slots,
                    _ => {}
                }
            }
            Register::Priority { first } => {
                let lanes = priority_lanes(first, width, |intid| self.ownership.owns_spi(intid));
                write_priority_lanes(width, lanes, value, |lane, width, value| {
                    gic.write_distributor(offset + lane, width, value)
                });
                for lane in 0..width.bytes() as u32 {
                    if let Some(slot) = self.virtual_spis.slot(first + lane) {
                        self.virtual_spis.priority[slot] = (value >> (lane * 8)) as u8;
                    }
                }
            }
            Register::Config { register } => {
                for field in 0..16 {
                    if let Some(slot) = self.virtual_spis.slot(register as u32 * 16 + field) {
                        let bit = 1u64 << slot;
                        if (value >> (field * 2)) & 0b10 != 0 {
                            self.virtual_spis.edge |= bit;
                        } else {
                            self.virtual_spis.edge &= !bit;
                        }
                    }
                }
                let fields = self.config_fields(register);
                if fields != 0 {
                    let current = gic.read_distributor(offset, Width::Word);
                    let merged = (current & !fields) | (value & fields);
                    gic.write_distributor(offset, Width::Word, merged);
                }
            }
            Register::Route { intid, part } => {
                if let Some(slot) = self.virtual_spis.slot(intid) {
                    let current =
                        Self::virtual_affinity(usize::from(self.virtual_spis.route[slot]));
                    let wanted = part.merge(current, value);
                    let vcpu = match wanted & IROUTER_IRM {
                        0 => self.vcpu_of_virtual_affinity(wanted).unwrap_or(0),
                        _ => 0,
                    };
                    self.virtual_spis.route[slot] = vcpu as u8;
                    return;
                }
                if !self.ownership.owns_spi(intid) {
                    return;
                }
                let register = GICD_IROUTER + u64::from(intid) * 8;
                let current = match part {
                    Part::Whole => 0,
                    _ => self.virtual_route(gic, register),
                };
                let wanted = part.merge(current, value);
                // IRM = 1 (any core) or a core outside the partition: its first vCPU.
                let vcpu = match wanted & IROUTER_IRM {
                    0 => self.vcpu_of_virtual_affinity(wanted).unwrap_or(0),
                    _ => 0,
                };
                if let Some(affinity) = self.physical_affinity(vcpu) {
                    gic.write_distributor(register, Width::Double, affinity);
                }
            }
            Register::Type
            | Register::ImplementerId
            | Register::Group { .. }
            | Register::Identification
            | Register::PeripheralId2
            | Register::Ignored => {}
        }
    }

    fn read_distributor_register(
        &mut self,
        gic: &mut impl PhysicalGic,
        offset: u64,
        width: Width,
    ) -> u64 {
        match decode(offset, width) {
            Register::Control => u64::from(self.distributor_control | CTLR_ARE | CTLR_DS),
            Register::Type => {
                let physical = gic.read_distributor(GICD_TYPER, Width::Word) as u32;
                let cpus = self.vcpu_count().clamp(1, 8) as u32;
                // Virtual SPIs sit above the board's: the guest must see lines up to them.
                let lines = if self.virtual_spis.present != 0 {
                    TYPER_IT_LINES_NUMBER
                } else {
                    physical & TYPER_IT_LINES_NUMBER
                };
                let typer = lines
                    | (physical & TYPER_ID_BITS)
                    | ((cpus - 1) << TYPER_CPU_NUMBER_SHIFT)
                    | TYPER_NO1N;
                u64::from(typer)
            }
            Register::ImplementerId | Register::Identification => {
                gic.read_distributor(offset, Width::Word)
            }
            Register::PeripheralId2 => PIDR2_GICV3,
            Register::Group { register } => u64::from(
                self.ownership.bank_mask(register) | self.virtual_spis.bank_mask(register),
            ),
            Register::Bank { register } => {
                let physical = match self.ownership.bank_mask(register) {
                    0 => 0,
                    mask => gic.read_distributor(offset, Width::Word) & u64::from(mask),
                };
                let spis = &self.virtual_spis;
                let virtual_bits = match offset & !(BIT_BANK_SIZE - 1) {
                    GICD_ISENABLER | GICD_ICENABLER => spis.bank_bits(register, spis.enabled),
                    GICD_ISPENDR | GICD_ICPENDR => spis.bank_bits(register, spis.latched),
                    _ => 0,
                };
                physical | u64::from(virtual_bits)
            }
            Register::Priority { first } => {
                let physical =
                    match priority_lanes(first, width, |intid| self.ownership.owns_spi(intid)) {
                        0 => 0,
                        lanes => gic.read_distributor(offset, width) & lanes,
                    };
                (0..width.bytes() as u32).fold(physical, |value, lane| {
                    match self.virtual_spis.slot(first + lane) {
                        Some(slot) => {
                            value | u64::from(self.virtual_spis.priority[slot]) << (lane * 8)
                        }
                        None => value,
                    }
                })
            }
            Register::Config { register } => {
                let physical = match self.config_fields(register) {
                    0 => 0,
                    fields => gic.read_distributor(offset, Width::Word) & fields,
                };
                (0..16).fold(physical, |value, field| {
                    match self.virtual_spis.slot(register as u32 * 16 + field) {
                        Some(slot) if self.virtual_spis.edge & (1 << slot) != 0 => {
                            value | 0b10 << (field * 2)
                        }
                        _ => value,
                    }
                })
            }
            Register::Route { intid, part } => {
                if let Some(slot) = self.virtual_spis.slot(intid) {
                    let route = Self::virtual_affinity(usize::from(self.virtual_spis.route[slot]));
                    return part.extract(route);
                }
                if !self.ownership.owns_spi(intid) {
                    return 0;
                }
                let route = self.virtual_route(gic, GICD_IROUTER + u64::from(intid) * 8);
                part.extract(route)
            }
            Register::Ignored => 0,
        }
    }

    /// Owned fields (0b11 each) of ICFGR<register>, which covers INTIDs 16n..16n+15.
    fn config_fields(&self, register: usize) -> u64 {
        let first = register as u32 * 16;
        (0..16)
            .filter(|&field| self.ownership.owns_spi(first + field))
            .fold(0, |fields, field| fields | 0b11 << (field * 2))
    }

    /// The IROUTER value the guest sees for a physical route register: its
    /// vCPU's virtual affinity (vCPU 0 for a core outside the partition or IRM = 1).
    fn virtual_route(&self, gic: &mut impl PhysicalGic, register: u64) -> u64 {
        let physical = gic.read_distributor(register, Width::Double);
        let vcpu = match physical & IROUTER_IRM {
            0 => self.vcpu_of_physical_affinity(physical).unwrap_or(0),
            _ => 0,
        };
        Self::virtual_affinity(vcpu)
    }
}
