//! SMCCC calls with every register under the caller's control (x0 included, upper half too), through `hvc` or `smc`.

use bulkhead_guests::hypercall;

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
    let [r0, r1, r2, r3, _] = match conduit {
        Conduit::Hvc => hypercall::hvc_raw(x0, args),
        Conduit::Smc => hypercall::smc_raw(x0, args),
    };
    [r0, r1, r2, r3]
}

/// x0 of a call with up to three arguments, as a signed SMCCC result.
pub fn call(conduit: Conduit, function: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    raw(conduit, u64::from(function), [a1, a2, a3, 0, 0, 0])[0] as i64
}
