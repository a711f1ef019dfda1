//! Trapped guest MMIO: decode the data abort and hand GIC accesses to the partition's vGIC model.

use bulkhead_core::vgic::Width;

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::vm;
use crate::hypercall::Caller;
use crate::trap::TrapOutcome;

/// ESR_EL2 ISS fields of a data abort.
const ISS_ISV: u64 = 1 << 24;
const ISS_SSE: u64 = 1 << 21;
const ISS_SF: u64 = 1 << 15;
const ISS_WNR: u64 = 1 << 6;

/// Emulates the access if it targets the partition's virtual GIC; None if
/// the abort is not an emulated device (the caller reports a fault).
pub fn handle_data_abort(caller: &Caller, frame: &mut GuestFrame, esr: u64) -> Option<TrapOutcome> {
    let gic = caller.system.board.gic.as_ref()?;
    let ipa = vm::fault_ipa();
    let partition = caller.partition;
    let distributor = gic.distributor.start.0;
    let redistributors = gic.redistributors.start.0;
    let region = if ipa >= distributor && ipa < distributor + bulkhead_core::vgic::DISTRIBUTOR_SIZE
    {
        Region::Distributor(ipa - distributor)
    } else if ipa >= redistributors
        && ipa - redistributors
            < partition.vcpus.len() as u64 * bulkhead_core::vgic::REDISTRIBUTOR_STRIDE
    {
        Region::Redistributor(ipa - redistributors)
    } else {
        return None;
    };
    // Without a valid syndrome (e.g. load/store pair) the access cannot be emulated.
    if esr & ISS_ISV == 0 {
        return None;
    }
    let width = match (esr >> 22) & 0b11 {
        0 => Width::Byte,
        1 => Width::Half,
        2 => Width::Word,
        _ => Width::Double,
    };
    let register = ((esr >> 16) & 0x1f) as usize;
    let mut hardware = partition.hardware_gic();
    let mut vgic = partition.vgic.lock();
    if esr & ISS_WNR != 0 {
        let value = if register == 31 { 0 } else { frame.x[register] };
        let value = truncate(value, width);
        match region {
            Region::Distributor(offset) => {
                vgic.distributor_write(&mut hardware, offset, width, value)
            }
            Region::Redistributor(offset) => {
                vgic.redistributor_write(&mut hardware, offset, width, value)
            }
        }
    } else {
        let value = match region {
            Region::Distributor(offset) => vgic.distributor_read(&mut hardware, offset, width),
            Region::Redistributor(offset) => vgic.redistributor_read(&mut hardware, offset, width),
        };
        let mut value = truncate(value, width);
        if esr & ISS_SSE != 0 {
            let shift = 64 - 8 * width.bytes() as u32;
            value = (((value << shift) as i64) >> shift) as u64;
        }
        if esr & ISS_SF == 0 {
            value &= 0xffff_ffff;
        }
        if register != 31 {
            frame.x[register] = value;
        }
    }
    frame.elr = frame.elr.wrapping_add(4);
    Some(TrapOutcome::Resume)
}

enum Region {
    Distributor(u64),
    Redistributor(u64),
}

fn truncate(value: u64, width: Width) -> u64 {
    match width {
        Width::Double => value,
        other => value & ((1u64 << (8 * other.bytes() as u32)) - 1),
    }
}
