//! The ID registers guests read: trapped by HCR_EL2.TID3, answered with `bulkhead_core::cpu_features`' view.

use bulkhead_core::cpu_features::{guest_value, IdRegister};

/// What this core's hardware has in `register` (0 for the encodings whose
/// guest view does not depend on it, which are then not read at all).
fn hardware_value(register: IdRegister) -> u64 {
    if !register.needs_hardware_value() {
        return 0;
    }
    macro_rules! read_by_encoding {
        ($($crm:literal $op2:literal),*) => {
            match (register.crm, register.op2) {
                $(($crm, $op2) => {
                    let value: u64;
                    // SAFETY: reads an allocated ID register of the TID3
                    // group at EL2, which has no side effect.
                    unsafe {
                        core::arch::asm!(
                            concat!("mrs {}, s3_0_c0_c", stringify!($crm), "_", stringify!($op2)),
                            out(reg) value,
                            options(nomem, nostack)
                        )
                    };
                    value
                })*
                _ => 0,
            }
        };
    }
    read_by_encoding!(
        1 0, 1 1, 1 2, 1 3, 1 4, 1 5, 1 6, 1 7,
        2 0, 2 1, 2 2, 2 3, 2 4, 2 5, 2 6, 2 7,
        3 0, 3 1, 3 2, 3 4, 3 5, 3 6,
        4 0, 4 1, 4 4, 5 0, 6 0, 6 1, 6 2, 7 0, 7 1, 7 2
    )
}

/// The value a guest's MRS of `register` returns.
pub fn guest_read(register: IdRegister) -> u64 {
    guest_value(register, hardware_value(register))
}
