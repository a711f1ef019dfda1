//! Stage-2 aborts outside a partition's map, delivered to the guest's EL1 as a synchronous external abort.
//!
//! Hardware answers an access to a physical address nothing decodes with a
//! synchronous external abort; KVM and Xen do the same for a guest access to
//! an IPA outside its map. [`deliver`] computes what the guest's EL1 sees
//! when it takes that exception (AArch64 `TakeException` to EL1, as the Arm
//! ARM's pseudocode has it): ESR_EL1, FAR_EL1, ELR_EL1, SPSR_EL1 and the PC
//! and PSTATE it resumes at. The hypervisor reads the registers, writes what
//! this module says and returns to the guest. [`report_kind`] is the rate
//! limit on Bulkhead's report lines.
//!
//! What is delivered (the injected syndrome):
//! - EC: data abort 0x24 (from EL0) / 0x25 (from EL1), instruction abort
//!   0x20 (from EL0) / 0x21 (from EL1).
//! - IL = 1: RES1 for instruction aborts and for data aborts with ISV = 0,
//!   which an injected abort always is (the access is not described).
//! - ISV = 0, FnV = 0 (FAR_EL1 holds the faulting VA, FAR_EL2's value),
//!   EA = 0, SET = 0 (recoverable), S1PTW = 0 (a stage-2 notion).
//! - WnR and CM kept from ESR_EL2 for data aborts.
//! - DFSC/IFSC 0b010000 (synchronous external abort, not on a walk); a fault
//!   on the guest's own stage-1 table walk (ESR_EL2.S1PTW) becomes
//!   0b0101LL, a synchronous external abort on a translation table walk.
//!   EL2 does not know which stage-1 level the walk was reading (the IPA is
//!   a table's, not the level's), so LL is reported as 0; Linux treats all
//!   four codes alike (`do_sea`).
//!
//! Only translation and address-size faults are "outside the map":
//! permission and access-flag faults inside the map (a write to a read-only
//! channel) and any other syndrome are not deliverable and stay the
//! partition's fault.
#![forbid(unsafe_code)]

use crate::decode::{Esr, ExceptionClass, FaultStatus};

/// PSTATE / SPSR bits (the AArch64 SPSR_ELx layout; for an AArch32 source
/// NZCV, DIT, PAN, SS, IL and the mode bits sit at the same positions).
pub mod pstate {
    /// M[4]: the exception was taken from AArch32.
    pub const M_AARCH32: u64 = 1 << 4;
    /// M[3:0].
    pub const M_MASK: u64 = 0xf;
    /// M[3:0] = EL1h: EL1, SP_EL1.
    pub const EL1H: u64 = 0b0101;
    /// F, I, A, D: interrupt and debug masks.
    pub const DAIF: u64 = 0b1111 << 6;
    /// BTYPE (FEAT_BTI).
    pub const BTYPE: u64 = 0b11 << 10;
    /// SSBS (FEAT_SSBS).
    pub const SSBS: u64 = 1 << 12;
    /// ALLINT (FEAT_NMI).
    pub const ALLINT: u64 = 1 << 13;
    /// IL: illegal execution state.
    pub const IL: u64 = 1 << 20;
    /// SS: software step.
    pub const SS: u64 = 1 << 21;
    /// PAN (FEAT_PAN).
    pub const PAN: u64 = 1 << 22;
    /// UAO (FEAT_UAO).
    pub const UAO: u64 = 1 << 23;
    /// DIT (FEAT_DIT).
    pub const DIT: u64 = 1 << 24;
    /// TCO (FEAT_MTE).
    pub const TCO: u64 = 1 << 25;
    /// N, Z, C, V.
    pub const NZCV: u64 = 0xf << 28;
}

/// SCTLR_EL1 bits that decide PSTATE on exception entry to EL1.
pub mod sctlr {
    /// SPAN: 0 = PSTATE.PAN is set on exception entry to EL1.
    pub const SPAN: u64 = 1 << 23;
    /// DSSBS: PSTATE.SSBS on exception entry.
    pub const DSSBS: u64 = 1 << 44;
    /// SPINTMASK: PSTATE.ALLINT is its inverse on exception entry (FEAT_NMI).
    pub const SPINTMASK: u64 = 1 << 45;
}

/// ESR fields of the injected syndrome.
const EC_SHIFT: u32 = 26;
const IL: u64 = 1 << 25;
const CM: u64 = 1 << 8;
const WNR: u64 = 1 << 6;
/// DFSC/IFSC: synchronous external abort, not on a translation table walk.
pub const FSC_EXTERNAL: u64 = 0b01_0000;
/// DFSC/IFSC: synchronous external abort on a translation table walk, level 0.
pub const FSC_EXTERNAL_WALK: u64 = 0b01_0100;

/// Vector offsets from VBAR_EL1 (the synchronous slot of each group).
pub const VECTOR_CURRENT_SP0: u64 = 0x000;
pub const VECTOR_CURRENT_SPX: u64 = 0x200;
pub const VECTOR_LOWER_AARCH64: u64 = 0x400;
pub const VECTOR_LOWER_AARCH32: u64 = 0x600;

/// The PSTATE features of the physical core that change what exception
/// entry does (the architecture acts on what is implemented, whatever the
/// guest's ID registers are made to show).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// FEAT_PAN: ID_AA64MMFR1_EL1.PAN != 0.
    pub pan: bool,
    /// FEAT_SSBS: ID_AA64PFR1_EL1.SSBS != 0.
    pub ssbs: bool,
    /// FEAT_MTE: ID_AA64PFR1_EL1.MTE != 0 (PSTATE.TCO exists).
    pub mte: bool,
    /// FEAT_NMI: ID_AA64PFR1_EL1.NMI != 0 (PSTATE.ALLINT exists).
    pub nmi: bool,
}

impl Features {
    /// Reads the fields from the raw ID registers.
    pub const fn from_id_registers(mmfr1: u64, pfr1: u64) -> Features {
        Features {
            pan: (mmfr1 >> 20) & 0xf != 0,
            ssbs: (pfr1 >> 4) & 0xf != 0,
            mte: (pfr1 >> 8) & 0xf != 0,
            nmi: (pfr1 >> 36) & 0xf != 0,
        }
    }
}

/// The guest's state when it trapped to EL2, as EL2 reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trapped {
    /// ESR_EL2 of the stage-2 abort.
    pub esr: u64,
    /// FAR_EL2: the faulting virtual address.
    pub far: u64,
    /// ELR_EL2: the faulting instruction.
    pub elr: u64,
    /// SPSR_EL2: the guest's PSTATE.
    pub spsr: u64,
    /// The guest's VBAR_EL1.
    pub vbar: u64,
    /// The guest's SCTLR_EL1.
    pub sctlr: u64,
}

/// What the guest takes: an abort for a load/store or an instruction fetch
/// outside its map, or an UNDEFINED exception for an access to a feature
/// it is not shown ([`undefined`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injected {
    DataAbort,
    InstructionAbort,
    /// An UNDEFINED instruction (EC 0x00).
    Undefined,
}

/// What the guest sees: the EL1 registers to write and where it resumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub kind: Injected,
    pub esr_el1: u64,
    pub far_el1: u64,
    pub elr_el1: u64,
    pub spsr_el1: u64,
    /// Where the guest resumes: its synchronous vector (ELR_EL2's new value).
    pub vector: u64,
    /// The PSTATE it resumes with (SPSR_EL2's new value).
    pub pstate: u64,
}

/// Why an abort cannot be delivered (it stays the partition's fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Undeliverable {
    /// Not a stage-2 data or instruction abort from a lower EL.
    NotAnAbort,
    /// A fault inside the map (permission, access flag, ...), not outside it.
    InsideTheMap(FaultStatus),
    /// SPSR_EL2 names no EL the guest can have trapped from (EL2, EL3, a
    /// reserved AArch32 mode).
    BadMode(u64),
}

/// Whether `esr` is a stage-2 abort outside the map: a translation or
/// address-size fault of a lower-EL data or instruction abort.
pub fn outside_the_map(esr: Esr) -> Result<(Injected, bool, FaultStatus), Undeliverable> {
    let (kind, walk, status) = match esr.class() {
        ExceptionClass::DataAbortLower => {
            let abort = crate::decode::DataAbort::from_iss(esr.iss());
            (Injected::DataAbort, abort.stage1_walk, abort.status)
        }
        ExceptionClass::InstructionAbortLower => {
            let abort = crate::decode::InstructionAbort::from_iss(esr.iss());
            (Injected::InstructionAbort, abort.stage1_walk, abort.status)
        }
        _ => return Err(Undeliverable::NotAnAbort),
    };
    match status {
        FaultStatus::Translation { .. } | FaultStatus::AddressSize { .. } => {
            Ok((kind, walk, status))
        }
        other => Err(Undeliverable::InsideTheMap(other)),
    }
}

/// The exception the guest takes for a stage-2 abort outside its map
/// (AArch64 `TakeException` to EL1 with a synchronous external abort).
pub fn deliver(trapped: &Trapped, features: Features) -> Result<Delivery, Undeliverable> {
    let (kind, walk, _) = outside_the_map(Esr(trapped.esr))?;
    let (from_el1, vector, pstate) = entry(trapped, features)?;
    let class: u64 = match (kind, from_el1) {
        (Injected::DataAbort, false) => 0x24,
        (Injected::DataAbort, true) => 0x25,
        (Injected::InstructionAbort, false) => 0x20,
        (Injected::InstructionAbort, true) => 0x21,
        // `outside_the_map` names aborts only.
        (Injected::Undefined, _) => return Err(Undeliverable::NotAnAbort),
    };
    let status = if walk {
        FSC_EXTERNAL_WALK
    } else {
        FSC_EXTERNAL
    };
    let kept = match kind {
        Injected::DataAbort => trapped.esr & (WNR | CM),
        Injected::InstructionAbort | Injected::Undefined => 0,
    };
    let esr_el1 = class << EC_SHIFT | IL | kept | status;
    Ok(Delivery {
        kind,
        esr_el1,
        far_el1: trapped.far,
        elr_el1: trapped.elr,
        spsr_el1: trapped.spsr,
        vector,
        pstate,
    })
}

/// The UNDEFINED exception (EC 0x00) the guest's EL1 takes for the trapped
/// instruction, as a core without the feature it uses raises it: ESR_EL1
/// has only IL (the trapped instruction's, from ESR_EL2); FAR_EL1 is
/// UNKNOWN for it and is left as it was (`far_el1` = `trapped.far`, which
/// the caller sets to the guest's current FAR_EL1).
pub fn undefined(trapped: &Trapped, features: Features) -> Result<Delivery, Undeliverable> {
    let (_, vector, pstate) = entry(trapped, features)?;
    Ok(Delivery {
        kind: Injected::Undefined,
        esr_el1: trapped.esr & IL,
        far_el1: trapped.far,
        elr_el1: trapped.elr,
        spsr_el1: trapped.spsr,
        vector,
        pstate,
    })
}

/// Where a synchronous exception to EL1 taken from PSTATE `trapped.spsr`
/// goes: whether it came from EL1, its vector, and the entry PSTATE.
fn entry(trapped: &Trapped, features: Features) -> Result<(bool, u64, u64), Undeliverable> {
    let spsr = trapped.spsr;
    // Where the exception came from picks the EC and the vector group.
    let (from_el1, vector_offset) = if spsr & pstate::M_AARCH32 != 0 {
        // Only AArch32 EL0 (User mode, M[3:0] = 0) can trap under an
        // AArch64 EL1; anything else is not a state a guest can be in.
        if spsr & pstate::M_MASK != 0 {
            return Err(Undeliverable::BadMode(spsr));
        }
        (false, VECTOR_LOWER_AARCH32)
    } else {
        match spsr & pstate::M_MASK {
            0b0000 => (false, VECTOR_LOWER_AARCH64),
            0b0100 => (true, VECTOR_CURRENT_SP0),
            0b0101 => (true, VECTOR_CURRENT_SPX),
            _ => return Err(Undeliverable::BadMode(spsr)),
        }
    };
    Ok((
        from_el1,
        trapped.vbar.wrapping_add(vector_offset),
        entry_pstate(spsr, trapped.sctlr, features),
    ))
}

/// PSTATE on exception entry to AArch64 EL1 from PSTATE `old`, as
/// `TakeException` sets it: EL1h, D/A/I/F masked, SS and IL clear; PAN set
/// unless SCTLR_EL1.SPAN; UAO and BTYPE clear; SSBS from SCTLR_EL1.DSSBS;
/// TCO set; ALLINT from SCTLR_EL1.SPINTMASK (each only where implemented);
/// NZCV, DIT and (with SPAN) PAN unchanged. Every other bit is clear: it
/// belongs to a feature entry does not model here (FEAT_EBEP's PM, FEAT_GCS's
/// EXLOCK, AArch32's IT/GE/T/E/Q), none of which a guest can have set on the
/// cores Bulkhead runs on, or is RES0.
pub fn entry_pstate(old: u64, sctlr: u64, features: Features) -> u64 {
    let mut new = old & (pstate::NZCV | pstate::DIT);
    new |= pstate::EL1H | pstate::DAIF;
    if features.pan && (sctlr & sctlr::SPAN == 0 || old & pstate::PAN != 0) {
        new |= pstate::PAN;
    }
    if features.ssbs && sctlr & sctlr::DSSBS != 0 {
        new |= pstate::SSBS;
    }
    if features.mte {
        new |= pstate::TCO;
    }
    if features.nmi && sctlr & sctlr::SPINTMASK == 0 {
        new |= pstate::ALLINT;
    }
    new
}

/// Per-partition rate limit on Bulkhead's report lines for delivered aborts.
///
/// The first [`REPORTED_IN_FULL`] aborts of a partition are reported one
/// line each; after that only a summary when the partition's count reaches
/// a power of two. A guest faulting in a loop on every core thus costs the
/// console `REPORTED_IN_FULL + log2(count)` lines in all: 34 for a billion
/// faults. The count is never reset (not by a restart either), so a guest
/// cannot buy itself a fresh budget.
pub const REPORTED_IN_FULL: u64 = 8;

/// What Bulkhead prints for a partition's `count`-th delivered abort
/// (counting from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// The full line: what, where, how delivered.
    Full,
    /// One line with the running count.
    Summary,
    /// Nothing.
    Silent,
}

/// The rate limit's decision for the `count`-th abort (see [`REPORTED_IN_FULL`]).
pub const fn report_kind(count: u64) -> Report {
    if count == 0 {
        Report::Silent
    } else if count <= REPORTED_IN_FULL {
        Report::Full
    } else if count.is_power_of_two() {
        Report::Summary
    } else {
        Report::Silent
    }
}

#[cfg(test)]
mod tests;
