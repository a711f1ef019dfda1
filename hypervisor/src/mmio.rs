//! Trapped guest MMIO: decode the data abort once, then hand it to the partition's emulated-device registry.

use bulkhead_core::decode::{DataAbort, MmioAccess};

use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::vm;
use crate::hypercall::Caller;
use crate::trap::TrapOutcome;

/// Emulates the access if it targets one of the partition's emulated
/// devices; None otherwise (the caller reports a fault).
pub fn handle_data_abort(
    caller: &Caller,
    frame: &mut GuestFrame,
    abort: &DataAbort,
) -> Option<TrapOutcome> {
    emulate(caller, frame, abort)?;
    frame.elr = frame.elr.wrapping_add(4);
    Some(TrapOutcome::Resume)
}

/// The access done on the partition's emulated device (a load's value in
/// its register of `frame`), without stepping over the instruction; None
/// if nothing was done (no device there, or no valid syndrome).
#[inline(always)]
pub fn emulate(caller: &Caller, frame: &mut GuestFrame, abort: &DataAbort) -> Option<()> {
    let ipa = vm::fault_ipa();
    let partition = caller.partition;
    let (device, offset) = partition.emulated.lookup(ipa)?;
    // Without a valid syndrome (e.g. a load/store pair) the access cannot be emulated.
    let access: MmioAccess = abort.mmio_access()?;
    if access.write {
        let value = access.store_value(access.register.read(&frame.x));
        device.write(partition, caller.vcpu, offset, access.width, value);
    } else {
        let raw = device.read(partition, caller.vcpu, offset, access.width);
        access.register.write(&mut frame.x, access.load_value(raw));
    }
    Some(())
}
