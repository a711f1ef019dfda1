//! SMCCC calls with every register under the caller's control (x0 included, upper half too), through `hvc` or `smc`.

use core::arch::asm;

/// Which instruction carries the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

impl Conduit {
    pub const BOTH: [Conduit; 2] = [Conduit::Hvc, Conduit::Smc];

    pub fn name(self) -> &'static str {
        match self {
            Conduit::Hvc => "hvc",
            Conduit::Smc => "smc",
        }
    }
}

/// x0..x3 after the call.
pub type Results = [u64; 4];

/// Issues the call with x0 = `x0` (all 64 bits) and x1..x6 = `args`.
#[inline(never)]
pub fn raw(conduit: Conduit, x0: u64, args: [u64; 6]) -> Results {
    let (r0, r1, r2, r3): (u64, u64, u64, u64);
    match conduit {
        // SAFETY: the call passes register values to the hypervisor; any
        // memory it touches on our behalf is named by IPA in them and must
        // be checked by the hypervisor against our map (that is the test).
        // Every caller-saved register is declared clobbered.
        Conduit::Hvc => unsafe {
            asm!(
                "hvc #0",
                inout("x0") x0 => r0,
                inout("x1") args[0] => r1,
                inout("x2") args[1] => r2,
                inout("x3") args[2] => r3,
                inout("x4") args[3] => _,
                inout("x5") args[4] => _,
                inout("x6") args[5] => _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _,
                options(nostack),
            )
        },
        // SAFETY: as above; Bulkhead traps `smc` (HCR_EL2.TSC) to the same dispatcher.
        Conduit::Smc => unsafe {
            asm!(
                "smc #0",
                inout("x0") x0 => r0,
                inout("x1") args[0] => r1,
                inout("x2") args[1] => r2,
                inout("x3") args[2] => r3,
                inout("x4") args[3] => _,
                inout("x5") args[4] => _,
                inout("x6") args[5] => _,
                out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _,
                out("x17") _,
                options(nostack),
            )
        },
    }
    [r0, r1, r2, r3]
}

/// x0 of a call with up to three arguments, as a signed SMCCC result.
pub fn call(conduit: Conduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    raw(conduit, u64::from(function), [a1, a2, a3, 0, 0, 0])[0] as i64
}
