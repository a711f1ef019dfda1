//! Pure decoders for guest-controlled values: syndromes, SGI requests (GICv3 and GICv2), list registers (both), cross-partition targets.
//!
//! Everything here takes whatever bits a guest (or the hardware on its behalf)
//! produced and never panics on any of them; the hypervisor reads the
//! registers and acts on what these decoders say.
#![forbid(unsafe_code)]

pub mod abort;
pub mod access;
pub mod esr;
pub mod gicv2;
pub mod list_register;
pub mod register;
pub mod sgi;
pub mod system_register;

pub use abort::{DataAbort, FaultStatus, InstructionAbort, MmioAccess};
pub use access::{resolve_target, Target, TargetError};
pub use esr::{describe, Esr, ExceptionClass};
pub use gicv2::{DistributorSgi, DistributorSgiTargets, ListRegisterV2};
pub use list_register::{Deactivation, ListRegister, ListRegisterState, SgiMerge};
pub use register::GeneralRegister;
pub use sgi::{NamedVcpus, SgiRequest, SgiTargets};
pub use system_register::{SgiRegister, SysRegAccess, SGI1R_WRITE_ESR, SGI1R_WRITE_ESR_MASK};
