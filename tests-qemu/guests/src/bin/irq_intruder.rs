//! Guest `irq_intruder`: tries to enable, pend, route and disable an SPI it does not own.
//!
//! It owns its stdout PL011's interrupt (UART0, INTID 33) and attacks
//! [`FOREIGN_INTID`] (UART1's, owned by the neighbour; bootargs
//! `foreign=<intid>` name another board's) through the
//! distributor after [`SETTLE_MS`], then reads every bit back. Prints
//! `result own_enable=1`, `result own_priority=160` (the control: its own
//! INTID works), then `result foreign_<what>=0` for each attacked register,
//! `result received=<n>` (interrupts it took itself), between `spi attack
//! start` and `spi attack done` lines.
//!
//! Every line goes through CONSOLE_WRITE (`[label] ` on UART0), so the
//! scenario can order it against the owner's lines.
#![no_std]
#![no_main]

use bulkhead_guests::gic::{self, gicd};
use bulkhead_guests::{dt, guest_main, irq, mark, psci, timer, BootInfo};

/// UART1's SPI 8.
pub const FOREIGN_INTID: u32 = 40;
/// UART0's SPI 1, when the device tree does not say.
const DEFAULT_OWN_INTID: u32 = 33;
/// Wait before the attack (the owner starts listening), and after it.
const SETTLE_MS: u64 = 500;

fn main(boot: &BootInfo) -> ! {
    let own = boot
        .dt
        .and_then(|dt| dt.stdout_uart_intid)
        .unwrap_or(DEFAULT_OWN_INTID);
    let foreign = dt::bootarg_u64(boot.dtb, "foreign")
        .and_then(|intid| u32::try_from(intid).ok())
        .unwrap_or(FOREIGN_INTID);
    let gic = boot.gic();
    gic::configure(gic);
    gic.init_distributor();
    gic.init_cpu();
    irq::enable();
    timer::delay_ms(SETTLE_MS);
    mark!("spi attack start own={own} foreign={foreign}");

    // The control: the same writes on its own INTID take effect.
    gic.enable_spi(own, gic::own_affinity());
    let own_enable = gic.distributor_bit(gicd::ISENABLER, own);
    let own_priority = gic::read8(gic.gicd(gicd::IPRIORITYR + u64::from(own)));
    gic.disable_spi(own);
    mark!("result own_enable={}", u8::from(own_enable));
    mark!("result own_priority={own_priority}");

    let target = foreign;
    let (word, bit) = gic::bit_position(target);
    let priority = gic.gicd(gicd::IPRIORITYR + u64::from(target));
    let config = gic.gicd(gicd::ICFGR + u64::from(target / 16) * 4);
    let config_bits = 0b11 << ((target % 16) * 2);
    gic::write32(gic.gicd(gicd::IGROUPR + word), bit);
    gic::write8(priority, gic::DEFAULT_PRIORITY);
    gic::write32(config, gic::read32(config) | config_bits);
    // Routing mode "any PE" (GICv2: every CPU interface): a value that
    // cannot read back as zero.
    gic.route_to_any(target);
    gic::write32(gic.gicd(gicd::ISENABLER + word), bit);
    gic::write32(gic.gicd(gicd::ISPENDR + word), bit);
    gic::write32(gic.gicd(gicd::ISACTIVER + word), bit);
    let readback = [
        (
            "foreign_group",
            u64::from(gic.distributor_bit(gicd::IGROUPR, target)),
        ),
        ("foreign_priority", u64::from(gic::read8(priority))),
        (
            "foreign_config",
            u64::from(gic::read32(config) & config_bits),
        ),
        ("foreign_route", gic.read_route(target)),
        (
            "foreign_enable",
            u64::from(gic.distributor_bit(gicd::ISENABLER, target)),
        ),
        (
            "foreign_pending",
            u64::from(gic.distributor_bit(gicd::ISPENDR, target)),
        ),
        (
            "foreign_active",
            u64::from(gic.distributor_bit(gicd::ISACTIVER, target)),
        ),
    ];
    // Then try to switch the owner's interrupt off and drop its state: the
    // owner's receive test afterwards shows it is still enabled.
    gic::write32(gic.gicd(gicd::ICENABLER + word), bit);
    gic::write32(gic.gicd(gicd::ICPENDR + word), bit);
    gic::write32(gic.gicd(gicd::ICACTIVER + word), bit);
    for (name, value) in readback {
        mark!("result {name}={value:#x}");
    }
    timer::delay_ms(SETTLE_MS);
    mark!("result received={}", irq::total(0));
    mark!("spi attack done");
    psci::system_off()
}

guest_main!(main);
