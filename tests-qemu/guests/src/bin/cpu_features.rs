//! Guest `cpu_features`: prints the ID registers it sees and, with SVE, the longest vector length it can set.
//!
//! Then it uses features it is not shown (an MTE register, an SME
//! instruction with SME enabled in its own CPACR_EL1, a RAS error-record
//! register) and records the exception class each raised, as a core
//! without them raises UNDEFINED (EC 0).
//!
//! Lines: `features <name>=<hex>` per register, then `features sve vl=<bytes>
//! zcr=<ZCR_EL1>` (vl=0 without SVE), `features undefined gcr=<ec>
//! tfsr=<ec> rdsvl=<ec> errselr=<ec>` (`none` if nothing was raised), then
//! `features done`.
#![no_std]
#![no_main]

use bulkhead_guests::exception::{set_sync_hook, SyncException};
use bulkhead_guests::{cpu, guest_main, println, psci, BootInfo};
use core::sync::atomic::{AtomicU64, Ordering};

/// EC of the last synchronous exception the hook took, or NONE.
static LAST_EC: AtomicU64 = AtomicU64::new(NONE);
const NONE: u64 = u64::MAX;

/// Records the class and resumes after the faulting instruction.
fn on_sync(exception: &mut SyncException<'_>) -> Option<u64> {
    LAST_EC.store(exception.esr >> 26, Ordering::Relaxed);
    Some(exception.elr + 4)
}

/// Runs `probe` and returns the EC it raised, as text.
fn raised(probe: fn()) -> &'static str {
    LAST_EC.store(NONE, Ordering::Relaxed);
    probe();
    match LAST_EC.load(Ordering::Relaxed) {
        NONE => "none",
        0x00 => "0x00",
        0x18 => "0x18",
        0x1d => "0x1d",
        _ => "other",
    }
}

fn read_gcr() {
    // SAFETY: reads GCR_EL1 (MTE); on a core without it (or with MTE
    // hidden) this raises an exception the hook steps over.
    unsafe { core::arch::asm!("mrs {}, s3_0_c1_c0_6", out(reg) _, options(nomem, nostack)) };
}

fn write_tfsr() {
    // SAFETY: as `read_gcr`, for a write of TFSR_EL1.
    unsafe { core::arch::asm!("msr s3_0_c5_c6_0, xzr", options(nomem, nostack)) };
}

fn read_svl() {
    // SAFETY: enables SME in this guest's own CPACR_EL1 (SMEN, RES0 where
    // SME does not exist), then RDSVL (an SME instruction, encoded by hand
    // for assemblers without +sme): UNDEFINED without SME.
    unsafe {
        core::arch::asm!(
            "mrs {t}, cpacr_el1",
            "orr {t}, {t}, #(3 << 24)",
            "msr cpacr_el1, {t}",
            "isb",
            ".inst 0x04bf5820", // rdsvl x0, #1
            t = out(reg) _,
            out("x0") _,
            options(nomem, nostack)
        )
    };
}

fn read_errselr() {
    // SAFETY: as `read_gcr`, for ERRSELR_EL1 (RAS).
    unsafe { core::arch::asm!("mrs {}, s3_0_c5_c3_1", out(reg) _, options(nomem, nostack)) };
}

fn main(_boot: &BootInfo) -> ! {
    for (name, value) in cpu::id_registers() {
        println!("features {}={:#x}", name, value);
    }
    if cpu::has_sve() {
        cpu::enable_sve();
        cpu::set_vector_length(0xf);
        println!(
            "features sve vl={} zcr={:#x}",
            cpu::vector_bytes(),
            cpu::vector_length_register()
        );
    } else {
        println!("features sve vl=0 zcr=0x0");
    }
    set_sync_hook(on_sync);
    println!(
        "features undefined gcr={} tfsr={} rdsvl={} errselr={}",
        raised(read_gcr),
        raised(write_tfsr),
        raised(read_svl),
        raised(read_errselr)
    );
    println!("features done");
    psci::system_off()
}

guest_main!(main);
