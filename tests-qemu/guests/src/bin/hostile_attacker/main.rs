//! Guest `hostile_attacker`: one attack on Bulkhead's isolation per boot, chosen by the partition's bootargs.
//!
//! `/chosen/bootargs` holds space-separated `key=value` words: `attack=`
//! names the attack (`sgi`, `gic`, `memory`, `psci`, `smccc`, `fuzz`,
//! `storm`), the other words are the attack's own (see each module). The
//! partition has no UART: every line goes through CONSOLE_WRITE and lands on
//! UART0 as `[label] ...`, in one order with Bulkhead's reports. The attack
//! starts when the counter reaches `start_ms` (absolute counter ms, default
//! [`DEFAULT_START_MS`]), so the victim is up and reporting by then.
//!
//! Lines: `attacker start attack=<name> ticks=<t>`, then the attack's
//! `attack <name> result=<...>` lines, then `attacker done ticks=<t>` and
//! SYSTEM_OFF, unless the attack was one that gets the partition stopped.
#![no_std]
#![no_main]

mod calls;
mod fuzz;
mod gic_registers;
mod memory;
mod psci_calls;
mod sgi;
mod smccc;
mod storm;

use bulkhead_guests::{dt, guest_main, println, psci, timer, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// Counter time (absolute ms) at which the attack starts, when bootargs do not say.
pub const DEFAULT_START_MS: u64 = 100;

/// The partition's bootargs words.
#[derive(Clone, Copy, Debug)]
pub struct Args {
    words: &'static str,
}

impl Args {
    fn from_boot(boot: &BootInfo) -> Self {
        let words = dt::blob(boot.dtb)
            .and_then(|fdt| fdt.find_node("/chosen")?.property("bootargs")?.as_str())
            .unwrap_or("");
        Args { words }
    }

    /// The value of `key=`, if present.
    pub fn get(&self, key: &str) -> Option<&'static str> {
        self.words
            .split_whitespace()
            .find_map(|word| word.strip_prefix(key)?.strip_prefix('='))
    }

    /// `key=` as a decimal number, or `default`.
    pub fn number(&self, key: &str, default: u64) -> u64 {
        self.get(key)
            .and_then(|value| value.parse().ok())
            .unwrap_or(default)
    }
}

/// What an attack needs to know about its own partition.
#[derive(Clone, Copy, Debug)]
pub struct Own {
    /// First memory region: IPA and size.
    pub base: u64,
    pub size: u64,
    pub gic: bulkhead_guests::gic::Gic,
    /// The one SPI it owns: its virtual console UART's (from its DT), if any.
    pub own_spi: Option<u32>,
}

impl Own {
    pub fn end(&self) -> u64 {
        self.base + self.size
    }
}

/// Counter ticks at absolute counter time `ms`.
pub fn ticks_at_ms(ms: u64) -> u64 {
    ms.saturating_mul(timer::frequency()) / 1000
}

/// Loop iterations between two counter reads while spinning: under icount
/// every counter read ends a translation block, so a loop that only reads
/// the counter runs far slower (in wall time) than plain code.
const SPIN_BATCH: u64 = 4096;

/// Spins (no trap, no memory access) until the counter reaches `deadline`.
pub fn spin_until(deadline: u64) {
    while timer::now() < deadline {
        let mut n = SPIN_BATCH;
        while core::hint::black_box(n) != 0 {
            n -= 1;
        }
    }
}

/// Spins until the counter reaches absolute time `ms`.
pub fn wait_until_ms(ms: u64) {
    spin_until(ticks_at_ms(ms));
}

/// Prints `attack <name> result=<value>`.
pub fn report(name: &str, value: i64) {
    println!("attack {name} result={value}");
}

/// An attack's closing figure, printed on the `attacker done` line as `<key>=<value>`.
#[derive(Clone, Copy, Debug)]
pub struct Done(pub &'static str, pub u64);

impl core::fmt::Display for Done {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}={}", self.0, self.1)
    }
}

/// Set by the secondary vCPU when it ran (the PSCI attack's control).
pub static SECONDARY_RAN: AtomicU64 = AtomicU64::new(0);

fn main(boot: &BootInfo) -> ! {
    let args = Args::from_boot(boot);
    let (base, size) = boot.first_region().unwrap_or((0x4000_0000, 16 << 20));
    let own = Own {
        base,
        size,
        gic: boot.gic(),
        own_spi: boot.dt.and_then(|dt| dt.stdout_uart_intid),
    };
    bulkhead_guests::gic::configure(own.gic);
    let attack = args.get("attack").unwrap_or("none");
    wait_until_ms(args.number("start_ms", DEFAULT_START_MS));
    println!("attacker start attack={attack} ticks={}", timer::now());
    let done = match attack {
        "sgi" => sgi::run(&own),
        "gic" => gic_registers::run(&own),
        "memory" => memory::run(&args),
        "psci" => psci_calls::run(&own),
        "smccc" => smccc::run(),
        "fuzz" => fuzz::run(&own, &args),
        "storm" => storm::run(&own, &args),
        other => {
            println!("hostile_attacker error: unknown attack `{other}`");
            psci::system_off()
        }
    };
    println!("attacker done ticks={} {done}", timer::now());
    psci_calls::finish(attack)
}

/// Secondary vCPU: the storms' spinner, or (started by the PSCI attack's
/// control call) says so and switches off.
fn secondary(vcpu: u64, context: u64) -> ! {
    if context == storm::SPINNER_CONTEXT {
        storm::spinner()
    }
    SECONDARY_RAN.store(context, Ordering::Release);
    println!("attacker secondary vcpu={vcpu} context={context:#x}");
    let _ = psci::cpu_off();
    psci::park()
}

guest_main!(main, secondary);
