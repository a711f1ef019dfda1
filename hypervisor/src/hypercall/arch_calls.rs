//! Arm architecture calls (SMCCC owner 0): version, feature discovery, CPU workarounds.

use bulkhead_abi::{arch, ret};

use super::set_result;
use crate::arch::aarch64::exception::GuestFrame;
use crate::arch::aarch64::firmware;

pub fn handle(function: u32, frame: &mut GuestFrame) {
    match function {
        arch::SMCCC_VERSION => set_result(frame, i64::from(arch::SMCCC_VERSION_1_1)),
        arch::SMCCC_ARCH_FEATURES => {
            let queried = frame.x[1] as u32;
            let answer = match queried {
                arch::SMCCC_VERSION | arch::SMCCC_ARCH_FEATURES => ret::SUCCESS,
                // Honest answer: a workaround is available to the guest only
                // if the firmware implements it, since we forward the call.
                arch::SMCCC_ARCH_WORKAROUND_1
                | arch::SMCCC_ARCH_WORKAROUND_2
                | arch::SMCCC_ARCH_WORKAROUND_3 => firmware::arch_features(queried),
                _ => ret::NOT_SUPPORTED,
            };
            set_result(frame, answer);
        }
        arch::SMCCC_ARCH_WORKAROUND_1
        | arch::SMCCC_ARCH_WORKAROUND_2
        | arch::SMCCC_ARCH_WORKAROUND_3 => {
            if firmware::arch_features(function) >= 0 {
                set_result(frame, firmware::arch_workaround(function, frame.x[1]));
            } else {
                set_result(frame, ret::NOT_SUPPORTED);
            }
        }
        _ => set_result(frame, ret::NOT_SUPPORTED),
    }
}
