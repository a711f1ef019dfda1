//! Attack `fuzz`: a million pseudo-random hypercalls (fixed seed), biased to the IDs Bulkhead serves, with pointers around its own and the victim's memory.
//!
//! IDs: 40 % vendor (0xC600_xxxx/0x8600_xxxx), 20 % PSCI, 10 % arch, 10 %
//! another owner, 20 % any 32-bit value; a quarter of the calls also set
//! x0's upper half, which SMCCC says is ignored. Arguments come from
//! [`argument`]'s pool: zero, SELF, the edges of its own RAM, the victim's RAM
//! and partition ids, absurd values. Never called: the IDs (by w0) that end
//! the caller (CPU_OFF, SYSTEM_OFF, SYSTEM_RESET); CPU_ON of its own vCPU 1
//! gets entry 0 (it would start at a random address), and a CONSOLE_WRITE
//! whose buffer is really its own gets length 0 (no random bytes on the
//! console). `calls=` (default [`DEFAULT_CALLS`]) from bootargs. Prints the
//! histogram of x0: `attack fuzz histogram 0=<n> pos=<n> -1=<n> ... -10=<n>
//! other=<n>` and `attack fuzz result=done calls=<n> skipped=<n> hvc=<n> smc=<n>`.

use super::calls::{raw, Conduit};
use super::{Args, Done, Own};
use bulkhead_guests::abi::{psci, vendor};
use bulkhead_guests::println;

/// Calls made when bootargs do not say.
pub const DEFAULT_CALLS: u64 = 1_000_000;
/// The generator's seed.
pub const SEED: u64 = 0x686f_7374_696c_6521;
/// The victim's partition id and memory (its PA) in the hostile layouts.
const VICTIM_ID: u64 = 0;
const VICTIM_RAM: u64 = 0x6000_0000;
const VICTIM_BYTES: u64 = 32 << 20;
/// IDs (by w0) never called.
const ENDS_CALLER: [u32; 3] = [psci::CPU_OFF, psci::SYSTEM_OFF, psci::SYSTEM_RESET];

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A function ID (w0), biased to what Bulkhead serves.
fn function(rng: &mut Rng) -> u32 {
    let r = rng.next();
    let low = (r >> 8) as u32;
    match r % 10 {
        0..=3 => {
            let base = if r & 1 << 40 != 0 {
                0xC600_0000
            } else {
                0x8600_0000
            };
            let number = match (r >> 41) % 4 {
                0 => low % 0x20,
                1 => 0xF0 + low % 0x10,
                2 => 0xFF00 + low % 4,
                _ => low & 0xFFFF,
            };
            base | number
        }
        4..=5 => {
            let base = if r & 1 << 40 != 0 {
                0xC400_0000
            } else {
                0x8400_0000
            };
            base | (low % 0x20)
        }
        6 => {
            let number = match (r >> 41) % 4 {
                0 => low % 4,
                1 => [0x3FFF, 0x7FFF, 0x8000][(low % 3) as usize],
                _ => low & 0xFFFF,
            };
            0x8000_0000 | number
        }
        7 => (low & 0xC000_0000) | ((low >> 8) % 64) << 24 | (low & 0xFFFF),
        _ => low,
    }
}

/// One argument register from the pool.
fn argument(rng: &mut Rng, own: &Own) -> u64 {
    let r = rng.next();
    let small = (r >> 8) % 0x2000;
    match r % 16 {
        0 => 0,
        1 => vendor::SELF,
        2 => own.base,
        3 => own.end() - 8,
        4 => own.end(),
        5 => own.end() - small,
        6 => own.base.wrapping_sub(1 + small),
        7 => VICTIM_RAM + (r >> 8) % VICTIM_BYTES,
        8 => VICTIM_ID,
        9 => 1,
        10 => (r >> 8) % 8,
        11 => 0xffff_ffff,
        12 => 1 << 32,
        13 => rng.next(),
        14 => small,
        _ => own.base + (r >> 8) % own.size,
    }
}

/// Whether [base, base + len) is wholly inside the attacker's RAM.
fn is_own(own: &Own, base: u64, len: u64) -> bool {
    base >= own.base && base.checked_add(len).is_some_and(|end| end <= own.end())
}

/// Histogram slots: 0, positive, -1..=-10, anything else.
const SLOTS: usize = 13;

fn slot(x0: u64) -> usize {
    match x0 as i64 {
        0 => 0,
        value if value > 0 => 1,
        value if (-10..=-1).contains(&value) => (1 - value) as usize,
        _ => 12,
    }
}

pub fn run(own: &Own, args: &Args) -> Done {
    let calls = args.number("calls", DEFAULT_CALLS);
    let mut rng = Rng(SEED);
    let mut histogram = [0u64; SLOTS];
    let mut skipped = 0u64;
    let mut conduits = [0u64; 2];
    let mut made = 0u64;
    while made < calls {
        let id = function(&mut rng);
        if ENDS_CALLER.contains(&id) {
            skipped += 1;
            continue;
        }
        let upper = if rng.below(4) == 0 {
            rng.next() << 32
        } else {
            0
        };
        let mut a: [u64; 6] = core::array::from_fn(|_| argument(&mut rng, own));
        let narrow = id & 1 << 30 == 0;
        let arg = |value: u64| if narrow { value & 0xffff_ffff } else { value };
        if matches!(id, psci::CPU_ON_32 | psci::CPU_ON_64) && arg(a[0]) & 0xff_00ff_ffff == 1 {
            a[1] = 0;
        }
        if vendor::canonical(id) == vendor::CONSOLE_WRITE && is_own(own, a[0], a[1]) {
            a[1] = 0;
        }
        let conduit = if rng.next() & 1 == 0 {
            Conduit::Hvc
        } else {
            Conduit::Smc
        };
        conduits[conduit as usize] += 1;
        let x0 = raw(conduit, upper | u64::from(id), a)[0];
        histogram[slot(x0)] += 1;
        made += 1;
    }
    println!(
        "attack fuzz histogram 0={} pos={} -1={} -2={} -3={} -4={} -5={} -6={} -7={} -8={} -9={} -10={} other={}",
        histogram[0], histogram[1], histogram[2], histogram[3], histogram[4], histogram[5],
        histogram[6], histogram[7], histogram[8], histogram[9], histogram[10], histogram[11],
        histogram[12]
    );
    println!(
        "attack fuzz result=done calls={made} skipped={skipped} hvc={} smc={}",
        conduits[0], conduits[1]
    );
    Done("calls", made)
}
