//! Attack `gic`: every distributor register of every SPI, the whole distributor frame, and the LPI registers of its own redistributors.
//!
//! The attacker owns no SPI but its virtual console UART's (993, skipped).
//! For every other SPI 32..=1019 it sets enable,
//! pending, active, group and group-modifier bits, writes priority 0 (the
//! highest), edge configuration, routes to the victim's physical core 2 and
//! to "any core", ITARGETSR, and SETSPI_NSR/SETSPI_SR; reads every one back
//! (all must read 0, `nonzero` counts those that do not); then clears
//! enable, pending, active and CLRSPI. Then it writes all-ones to every word
//! of the 64 KiB distributor frame, and byte, halfword and doubleword
//! accesses over the per-INTID banks, reads every word back (only CTLR,
//! TYPER, IIDR and the ID registers may be nonzero), and writes GICD_CTLR 0,
//! all-ones, 0. Last its own redistributor frames: GICR_CTLR.EnableLPIs and
//! PROPBASER/PENDBASER pointing at the victim's memory (PA 0x6100_0000), the
//! LPI set/clear/invalidate registers, and all-ones over both frames; the
//! LPI registers must read 0. Lines:
//! `attack gicd_spi result=done accesses=<n> nonzero=<n> first_nonzero=<intid>`,
//! `attack gicd_sweep result=done words=<n> nonzero=<n> first_nonzero=<offset>`,
//! `attack gicd_ctlr result=<final readback>`,
//! `attack gicr_lpi result=done nonzero=<n> ctlr=.. propbaser=.. pendbaser=.. typer=..`.
//!
//! On a GICv2 (its DT says so) the same sweep runs over its distributor
//! (ITARGETSR0..7, which read back the vCPU's own bit, and the GICv2
//! identification block may read nonzero), and the GICv2 twin of the LPI
//! attack, which has no redistributors, is GICD_SGIR: every SGI to every
//! CPU interface (the victim's cores among them) with each filter, and
//! all-ones over the SGI pending registers, which must read 0:
//! `attack gicd_sgir result=done nonzero=<n> writes=<n>`.

use super::{Done, Own};
use bulkhead_guests::gic::{self, gicd, read32, read64, read8, write32, write64, write8};
use bulkhead_guests::println;
use core::arch::asm;

/// Distributor offsets the guest runtime does not name.
const SETSPI_NSR: u64 = 0x0040;
const CLRSPI_NSR: u64 = 0x0048;
const SETSPI_SR: u64 = 0x0050;
const CLRSPI_SR: u64 = 0x0058;
const ITARGETSR: u64 = 0x0800;
const IGRPMODR: u64 = 0x0D00;
/// Words of the distributor frame that may read nonzero: CTLR, TYPER, IIDR,
/// and the identification registers at the top.
const READABLE_ID: core::ops::RangeInclusive<u64> = 0xFFD0..=0xFFFC;
/// GICv2: ITARGETSR0..7 read back the reading vCPU's own interface bit.
const GICV2_OWN_TARGETS: core::ops::Range<u64> = 0x0800..0x0820;
/// GICv2: the registers banked per CPU (SGIs and PPIs: bank word 0 of each
/// bit array, IPRIORITYR0..7, ICFGR0..1) hold the attacker's own vCPU's
/// state, which it may set.
fn gicv2_banked(offset: u64) -> bool {
    (0x080..0x400).contains(&offset) && offset.is_multiple_of(0x80)
        || (0x400..0x420).contains(&offset)
        || offset == 0xC00
        || offset == 0xC04
}
/// GICv2: the identification registers at the top of its 4 KiB.
const GICV2_READABLE_ID: core::ops::RangeInclusive<u64> = 0x0FD0..=0x0FFC;
/// GICv2: the SGI register and the SGI pending set/clear registers.
const GICD_SGIR: u64 = 0x0F00;
const GICD_CPENDSGIR: u64 = 0x0F10;
const GICD_SPENDSGIR: u64 = 0x0F20;
/// Size of the distributor frame.
const FRAME: u64 = 0x1_0000;
/// Redistributor RD_base registers for LPIs.
const GICR_CTLR: u64 = 0x0000;
const GICR_TYPER: u64 = 0x0008;
const GICR_SETLPIR: u64 = 0x0040;
const GICR_CLRLPIR: u64 = 0x0048;
const GICR_PROPBASER: u64 = 0x0070;
const GICR_PENDBASER: u64 = 0x0078;
const GICR_INVLPIR: u64 = 0x00A0;
const GICR_INVALLR: u64 = 0x00B0;
const GICR_SYNCR: u64 = 0x00C0;
/// The victim's memory (its PA) as LPI tables: configuration, pending.
pub const VICTIM_PROPBASE: u64 = 0x6100_0000;
pub const VICTIM_PENDBASE: u64 = 0x6110_0000;
/// The victim's physical core 2, as an IROUTER affinity.
const VICTIM_CORE: u64 = 2;

fn write16(address: u64, value: u16) {
    // SAFETY: a single halfword store to the (trapped) distributor, as for
    // the runtime's `write8`.
    unsafe {
        asm!("strh {0:w}, [{1}]", in(reg) u32::from(value), in(reg) address, options(nostack))
    };
}

pub fn run(own: &Own) -> Done {
    let spi = attack_spis(own);
    let sweep = attack_frame(own);
    let ctlr = own.gic.gicd(gicd::CTLR);
    write32(ctlr, 0);
    write32(ctlr, u32::MAX);
    write32(ctlr, 0);
    println!("attack gicd_ctlr result={:#x}", read32(ctlr));
    let lpi = if own.gic.cpu_interface.is_some() {
        attack_sgir(own)
    } else {
        attack_lpis(own)
    };
    Done("accesses", spi + sweep + lpi)
}

/// Every per-SPI register, set, read back, cleared. Returns the accesses made.
fn attack_spis(own: &Own) -> u64 {
    let d = |offset: u64| own.gic.gicd(offset);
    let mut accesses = 0u64;
    let mut nonzero = 0u64;
    let mut first_nonzero = 0u64;
    for intid in (gic::FIRST_SPI..gic::SPECIAL_INTID).filter(|&i| Some(i) != own.own_spi) {
        let (word, bit) = gic::bit_position(intid);
        let n = u64::from(intid);
        let config = d(gicd::ICFGR + n / 16 * 4);
        let config_bits = 0b11 << ((intid % 16) * 2);
        for bank in [
            gicd::ISENABLER,
            gicd::ISPENDR,
            gicd::ISACTIVER,
            gicd::IGROUPR,
            IGRPMODR,
        ] {
            write32(d(bank + word), bit);
        }
        write8(d(gicd::IPRIORITYR + n), 0);
        write32(config, u32::MAX);
        write64(d(gicd::IROUTER + 8 * n), VICTIM_CORE);
        write64(d(gicd::IROUTER + 8 * n), 1 << 31);
        write8(d(ITARGETSR + n), 0xff);
        write32(d(SETSPI_NSR), intid);
        write32(d(SETSPI_SR), intid);
        accesses += 12;
        let readback = [
            u64::from(read32(d(gicd::ISENABLER + word)) & bit),
            u64::from(read32(d(gicd::ISPENDR + word)) & bit),
            u64::from(read32(d(gicd::ISACTIVER + word)) & bit),
            u64::from(read32(d(gicd::IGROUPR + word)) & bit),
            u64::from(read32(d(IGRPMODR + word)) & bit),
            u64::from(read8(d(gicd::IPRIORITYR + n))),
            u64::from(read32(config) & config_bits),
            read64(d(gicd::IROUTER + 8 * n)),
            u64::from(read8(d(ITARGETSR + n))),
        ];
        accesses += readback.len() as u64;
        let bad = readback.iter().filter(|&&value| value != 0).count() as u64;
        if bad != 0 && nonzero == 0 {
            first_nonzero = n;
        }
        nonzero += bad;
        for bank in [gicd::ICENABLER, gicd::ICPENDR, gicd::ICACTIVER] {
            write32(d(bank + word), bit);
        }
        write32(d(CLRSPI_NSR), intid);
        write32(d(CLRSPI_SR), intid);
        accesses += 5;
    }
    println!(
        "attack gicd_spi result=done accesses={accesses} nonzero={nonzero} first_nonzero={first_nonzero}"
    );
    accesses
}

/// All-ones over the whole frame, odd widths over the banks, then every word read back.
fn attack_frame(own: &Own) -> u64 {
    let base = own.gic.distributor;
    let mut accesses = 0u64;
    for offset in (0..FRAME).step_by(4) {
        write32(base + offset, u32::MAX);
        accesses += 1;
    }
    for offset in (gicd::IGROUPR..gicd::IROUTER).step_by(8) {
        write8(base + offset, 0xff);
        write16(base + offset + 2, 0xffff);
        write64(base + offset, u64::MAX);
        accesses += 3;
    }
    let mut nonzero = 0u64;
    let mut first_nonzero = 0u64;
    for offset in (0..FRAME).step_by(4) {
        let value = read32(base + offset);
        accesses += 1;
        let gicv2_readable = own.gic.cpu_interface.is_some()
            && (GICV2_OWN_TARGETS.contains(&offset)
                || GICV2_READABLE_ID.contains(&offset)
                || gicv2_banked(offset));
        let may_be_set = offset <= 0x8 || READABLE_ID.contains(&offset) || gicv2_readable;
        let value = value & !own.own_spi.map_or(0, |intid| own_bits(offset, intid));
        if value != 0 && !may_be_set {
            if nonzero == 0 {
                first_nonzero = offset;
            }
            nonzero += 1;
        }
    }
    println!(
        "attack gicd_sweep result=done words={} nonzero={nonzero} first_nonzero={first_nonzero:#x}",
        FRAME / 4
    );
    accesses
}

/// The bits of the distributor word at `offset` that hold `intid`'s own
/// state (its own SPI may read back what it wrote).
fn own_bits(offset: u64, intid: u32) -> u32 {
    let n = u64::from(intid);
    let field = |base: u64, bits: u64| -> u32 {
        let per_word = 32 / bits;
        let word = base + n / per_word * 4;
        if offset != word {
            return 0;
        }
        let mask = if bits == 32 {
            u32::MAX
        } else {
            (1u32 << bits) - 1
        };
        mask << ((n % per_word) * bits)
    };
    let one_bit = [0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0xd00]
        .iter()
        .fold(0, |mask, &base| mask | field(base, 1));
    let router = gicd::IROUTER + 8 * n;
    one_bit
        | field(gicd::IPRIORITYR, 8)
        | field(ITARGETSR, 8)
        | field(0xc00, 2)
        | field(0xe00, 2)
        | if offset == router || offset == router + 4 {
            u32::MAX
        } else {
            0
        }
}

/// LPIs through its own redistributors, aimed at the victim's memory.
fn attack_lpis(own: &Own) -> u64 {
    let mut accesses = 0u64;
    let frames = [own.gic.redistributor(0), own.gic.redistributor(1)];
    for rd in frames {
        write64(rd + GICR_PROPBASER, VICTIM_PROPBASE | 0x0f);
        write64(rd + GICR_PENDBASER, VICTIM_PENDBASE | 1 << 62);
        write32(rd + GICR_CTLR, 1);
        write64(rd + GICR_SETLPIR, 8192);
        write64(rd + GICR_CLRLPIR, 8192);
        write64(rd + GICR_INVLPIR, 8192);
        write64(rd + GICR_INVALLR, 0);
        let _ = read32(rd + GICR_SYNCR);
        accesses += 8;
    }
    // All-ones over both frames of vCPU 1's redistributor (vCPU 1 is off;
    // vCPU 0's is left alone so the attacker's own interface keeps working).
    let rd1 = frames[1];
    for offset in (0..0x2_0000).step_by(4) {
        write32(rd1 + offset, u32::MAX);
        accesses += 1;
    }
    let mut nonzero = 0u64;
    let mut values = [0u64; 4];
    for rd in frames {
        values = [
            u64::from(read32(rd + GICR_CTLR)),
            read64(rd + GICR_PROPBASER),
            read64(rd + GICR_PENDBASER),
            // PLPIS (bit 0) and the rest of TYPER's low byte but Last (bit 4).
            read64(rd + GICR_TYPER) & 0xef,
        ];
        accesses += 4;
        nonzero += values.iter().filter(|&&value| value != 0).count() as u64;
    }
    println!(
        "attack gicr_lpi result=done nonzero={nonzero} ctlr={:#x} propbaser={:#x} pendbaser={:#x} typer={:#x}",
        values[0], values[1], values[2], values[3]
    );
    accesses
}

/// GICv2: SGIs at every CPU interface; every SGI made pending from every
/// source CPU on its own vCPU (SPENDSGIR all-ones), then withdrawn again
/// (CPENDSGIR all-ones): they read back 0.
fn attack_sgir(own: &Own) -> u64 {
    let d = |offset: u64| own.gic.gicd(offset);
    let mut writes = 0u64;
    for sgi in 0..16u32 {
        // Filter 0 with every interface listed, 1 (all but self), 3 (reserved).
        for value in [0x00ff_0000 | sgi, 0x0100_0000 | sgi, 0x03ff_0000 | sgi] {
            write32(d(GICD_SGIR), value);
            writes += 1;
        }
    }
    let set = (GICD_SPENDSGIR..GICD_SPENDSGIR + 0x10).step_by(4);
    for offset in set.chain((GICD_CPENDSGIR..GICD_SPENDSGIR).step_by(4)) {
        write32(d(offset), u32::MAX);
        writes += 1;
    }
    let nonzero = (GICD_CPENDSGIR..GICD_SPENDSGIR + 0x10)
        .step_by(4)
        .filter(|&offset| read32(d(offset)) != 0)
        .count();
    println!("attack gicd_sgir result=done nonzero={nonzero} writes={writes}");
    writes + 8
}
