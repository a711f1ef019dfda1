//! Host tests for the vGIC model against a fake physical GIC that checks every access it gets.

use proptest::prelude::*;

use super::registers::*;
use super::*;

/// Where a physical access went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Distributor,
    Redistributor(usize),
}

/// One GIC frame as plain memory, except that each set/clear register pair
/// (ISENABLER/ICENABLER, ISPENDR/ICPENDR, ISACTIVER/ICACTIVER) shares one
/// state word and writes set or clear bits, as on the hardware.
#[derive(Clone)]
struct FakeFrame {
    bytes: Vec<u8>,
    /// Offset of the frame's ISENABLER bank (0x100 in GICD, 0x1_0100 in GICR).
    set_enable: u64,
}

impl FakeFrame {
    fn new(size: u64, set_enable: u64) -> Self {
        FakeFrame {
            bytes: vec![0; size as usize],
            set_enable,
        }
    }

    /// For an offset in a set/clear pair: the state offset, and whether it clears.
    fn set_clear(&self, offset: u64) -> Option<(u64, bool)> {
        let local = offset.checked_sub(self.set_enable)?;
        if local >= 0x300 {
            return None;
        }
        let pair_base = self.set_enable + local / 0x100 * 0x100;
        let within = local % 0x100;
        Some((pair_base + within % 0x80, within >= 0x80))
    }

    fn load(&self, offset: u64, bytes: usize) -> u64 {
        (0..bytes).fold(0, |value, byte| {
            value | u64::from(self.bytes[offset as usize + byte]) << (byte * 8)
        })
    }

    fn store(&mut self, offset: u64, bytes: usize, value: u64) {
        for byte in 0..bytes {
            self.bytes[offset as usize + byte] = (value >> (byte * 8)) as u8;
        }
    }

    fn read(&self, offset: u64, width: Width) -> u64 {
        let offset = self.set_clear(offset).map_or(offset, |(state, _)| state);
        self.load(offset, width.bytes())
    }

    fn write(&mut self, offset: u64, width: Width, value: u64) {
        match self.set_clear(offset) {
            Some((state, clear)) => {
                let current = self.load(state, width.bytes());
                let new = if clear {
                    current & !value
                } else {
                    current | value
                };
                self.store(state, width.bytes(), new);
            }
            None => self.store(offset, width.bytes(), value),
        }
    }
}

/// A physical GIC that panics on any access the architecture does not allow.
#[derive(Clone)]
struct FakeGic {
    distributor: FakeFrame,
    redistributors: Vec<FakeFrame>,
    writes: Vec<(Target, u64, Width, u64)>,
}

impl FakeGic {
    fn new(cores: usize) -> Self {
        let mut distributor = FakeFrame::new(DISTRIBUTOR_SIZE, GICD_ISENABLER);
        // QEMU virt-like: 288 INTIDs, 16 ID bits, LPIs, MBIs, security extension, 4 CPUs.
        let typer = 8 | (3 << 5) | (1 << 10) | (0xF << 19) | (1 << 17) | (1 << 16) | (1 << 26);
        distributor.store(GICD_TYPER, 4, typer);
        distributor.store(GICD_IIDR, 4, 0x0300_043B);
        distributor.store(GICD_PIDR2, 4, 0x4B);
        distributor.store(0xFFE0, 4, 0x92);
        let mut redistributor = FakeFrame::new(REDISTRIBUTOR_STRIDE, GICR_ISENABLER0);
        redistributor.store(GICR_IIDR, 4, 0x0300_043B);
        redistributor.store(GICR_TYPER, 8, 0xDEAD_BEEF_0000_0001);
        redistributor.store(GICR_PIDR2, 4, 0x4B);
        FakeGic {
            distributor,
            redistributors: vec![redistributor; cores],
            writes: Vec::new(),
        }
    }

    /// Every per-INTID state the fake holds set to a recognisable non-reset value.
    fn scribbled(cores: usize) -> Self {
        let mut gic = FakeGic::new(cores);
        for intid in FIRST_SPI..INTID_COUNT {
            let bit = |base: u64| (base + u64::from(intid / 32) * 4, 1u64 << (intid % 32));
            for base in [GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ISACTIVER] {
                let (offset, bit) = bit(base);
                let word = gic.distributor.load(offset, 4);
                gic.distributor.store(offset, 4, word | bit);
            }
            gic.distributor
                .store(GICD_IPRIORITYR + u64::from(intid), 1, 0x55);
            gic.distributor
                .store(GICD_IROUTER + u64::from(intid) * 8, 8, 0x7);
        }
        for register in 0..64 {
            gic.distributor
                .store(GICD_ICFGR + register * 4, 4, 0xFFFF_FFFF);
        }
        for frame in &mut gic.redistributors {
            for base in [
                GICR_IGROUPR0,
                GICR_ISENABLER0,
                GICR_ISPENDR0,
                GICR_ISACTIVER0,
            ] {
                frame.store(base, 4, 0xFFFF_FFFF);
            }
            for intid in 0..32 {
                frame.store(GICR_IPRIORITYR0 + intid, 1, 0x55);
            }
            frame.store(GICR_ICFGR1, 4, 0x5555_5555);
        }
        gic
    }

    /// Physical state of one SPI: group, enabled, pending, active, priority, config, route.
    fn spi(&self, intid: u32) -> (bool, bool, bool, bool, u64, u64, u64) {
        let bit = |base: u64| {
            self.distributor.load(base + u64::from(intid / 32) * 4, 4) >> (intid % 32) & 1 != 0
        };
        let config = self
            .distributor
            .load(GICD_ICFGR + u64::from(intid / 16) * 4, 4);
        (
            bit(GICD_IGROUPR),
            bit(GICD_ISENABLER),
            bit(GICD_ISPENDR),
            bit(GICD_ISACTIVER),
            self.distributor.load(GICD_IPRIORITYR + u64::from(intid), 1),
            config >> ((intid % 16) * 2) & 0b11,
            self.distributor
                .load(GICD_IROUTER + u64::from(intid) * 8, 8),
        )
    }

    /// Physical state of one SGI/PPI on `core`: group, enabled, pending, active, priority, config.
    fn private(&self, core: usize, intid: u32) -> (bool, bool, bool, bool, u64, u64) {
        let frame = &self.redistributors[core];
        let bit = |offset: u64| frame.load(offset, 4) >> intid & 1 != 0;
        let config = frame.load(GICR_ICFGR0 + u64::from(intid / 16) * 4, 4);
        (
            bit(GICR_IGROUPR0),
            bit(GICR_ISENABLER0),
            bit(GICR_ISPENDR0),
            bit(GICR_ISACTIVER0),
            frame.load(GICR_IPRIORITYR0 + u64::from(intid), 1),
            config >> ((intid % 16) * 2) & 0b11,
        )
    }

    /// The architecture's access rules, plus: nothing outside per-INTID state and ID registers.
    fn check(target: Target, offset: u64, width: Width, size: u64) {
        assert!(
            offset.is_multiple_of(width.bytes() as u64) && offset + width.bytes() as u64 <= size,
            "{target:?}: bad access {offset:#x} {width:?}"
        );
        let allowed = match (target, width) {
            (_, Width::Word) => true,
            (Target::Distributor, Width::Byte) => (0x400..0x800).contains(&offset),
            (Target::Distributor, Width::Double) => (0x6000..0x8000).contains(&offset),
            (Target::Redistributor(_), Width::Byte) => (0x1_0400..0x1_0420).contains(&offset),
            _ => false,
        };
        assert!(allowed, "{target:?}: {width:?} access at {offset:#x}");
    }
}

impl PhysicalGic for FakeGic {
    fn read_distributor(&mut self, offset: u64, width: Width) -> u64 {
        Self::check(Target::Distributor, offset, width, DISTRIBUTOR_SIZE);
        self.distributor.read(offset, width)
    }

    fn write_distributor(&mut self, offset: u64, width: Width, value: u64) {
        Self::check(Target::Distributor, offset, width, DISTRIBUTOR_SIZE);
        assert_eq!(value & !width.mask(), 0, "value wider than the access");
        self.writes
            .push((Target::Distributor, offset, width, value));
        self.distributor.write(offset, width, value);
    }

    fn read_redistributor(&mut self, vcpu: usize, offset: u64, width: Width) -> u64 {
        Self::check(
            Target::Redistributor(vcpu),
            offset,
            width,
            REDISTRIBUTOR_STRIDE,
        );
        self.redistributors[vcpu].read(offset, width)
    }

    fn write_redistributor(&mut self, vcpu: usize, offset: u64, width: Width, value: u64) {
        Self::check(
            Target::Redistributor(vcpu),
            offset,
            width,
            REDISTRIBUTOR_STRIDE,
        );
        assert_eq!(value & !width.mask(), 0, "value wider than the access");
        self.writes
            .push((Target::Redistributor(vcpu), offset, width, value));
        self.redistributors[vcpu].write(offset, width, value);
    }
}

/// The UART's SPI (33), two PCIe INTx lines (35, 36) and one SPI in a later register (100).
const OWNED: [u32; 4] = [33, 35, 36, 100];
/// Physical MPIDRs of the partition's two cores (cores 2 and 3; bit 31 is RES1 in MPIDR_EL1).
const MPIDRS: [u64; 2] = [0x8000_0002, 0x8000_0003];

fn partition() -> (VirtualGic, FakeGic) {
    (
        VirtualGic::new(Ownership::new(OWNED), MPIDRS.to_vec()),
        FakeGic::scribbled(MPIDRS.len()),
    )
}

#[test]
fn fixed_registers_answer_as_the_model_does() {
    let (mut vgic, mut gic) = partition();
    let fixed = super::FixedRegisters::capture(|offset| {
        vgic.distributor_read(&mut gic, offset, Width::Word)
    });
    for offset in [GICD_TYPER, GICD_IIDR, GICD_PIDR2, 0xFFD0, 0xFFFC, 0xFD0] {
        let model = vgic.distributor_read(&mut gic, offset, Width::Word);
        assert_eq!(fixed.read(offset, Width::Word), Some(model), "{offset:#x}");
    }
    assert_eq!(fixed.read(GICD_IIDR, Width::Word), Some(0x0300_043B));
    assert_eq!(fixed.read(GICD_CTLR, Width::Word), None);
}

fn word_offset(base: u64, intid: u32) -> u64 {
    base + u64::from(intid / 32) * 4
}

#[test]
fn widths_have_their_sizes() {
    for width in [Width::Byte, Width::Half, Width::Word, Width::Double] {
        assert_eq!(Width::from_bytes(width.bytes()), Some(width));
    }
    assert_eq!(Width::from_bytes(3), None);
}

#[test]
fn ownership_keeps_only_spis() {
    let ownership = Ownership::new([0, 15, 16, 31, 32, 33, 1019, 1020, 1023, 5000, 33]);
    assert_eq!(ownership.spis().collect::<Vec<_>>(), [32, 33, 1019]);
    assert!(ownership.owns_spi(1019));
    assert!(!ownership.owns_spi(27));
    assert!(!ownership.owns_spi(1020));
    assert!(!ownership.owns_spi(u32::MAX));
}

#[test]
fn distributor_identifies_as_gicv3_for_the_partition() {
    for (vcpus, cpu_number) in [(1, 0), (2, 1), (4, 3), (8, 7), (9, 7)] {
        let mut vgic = VirtualGic::new(Ownership::new(OWNED), vec![0; vcpus]);
        let mut gic = FakeGic::new(vcpus);
        let typer = vgic.distributor_read(&mut gic, GICD_TYPER, Width::Word);
        assert_eq!(typer & 0x1F, 8, "ITLinesNumber kept");
        assert_eq!(typer >> 5 & 7, cpu_number);
        assert_eq!(typer >> 19 & 0x1F, 0xF, "IDbits kept");
        assert_eq!(typer & (1 << 16 | 1 << 17), 0, "no LPIs, no MBIs");
        assert_eq!(
            typer & (1 << 26 | 1 << 10),
            0,
            "no RSS, single security state"
        );
        assert_ne!(typer & (1 << 25), 0, "No1N");
    }
    let (mut vgic, mut gic) = partition();
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_PIDR2, Width::Word),
        0x3B
    );
    assert_eq!(vgic.distributor_read(&mut gic, 0xFFE0, Width::Word), 0x92);
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_IIDR, Width::Word),
        0x0300_043B
    );
    assert_eq!(
        vgic.distributor_read(&mut gic, 0xC, Width::Word),
        0,
        "TYPER2"
    );
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_CTLR, Width::Word),
        0x50
    );
    vgic.distributor_write(&mut gic, GICD_CTLR, Width::Word, 0xFFFF_FFFF);
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_CTLR, Width::Word),
        0x53
    );
    assert!(vgic.group1_enabled());
    vgic.distributor_write(&mut gic, 0xF00, Width::Word, 0x00FF_0001);
    assert!(gic.writes.is_empty(), "CTLR and SGIR stay virtual");
}

/// What Linux's GICv3 driver does at boot (gic_dist_init, gic_dist_config,
/// gic_populate_rdist, gic_enable_redist, gic_cpu_config), on both vCPUs.
#[test]
fn linux_init_sequence() {
    let (mut vgic, mut gic) = partition();
    let pristine = gic.clone();
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_PIDR2, Width::Word) >> 4 & 0xF,
        3
    );
    let typer = vgic.distributor_read(&mut gic, GICD_TYPER, Width::Word);
    let lines = (32 * ((typer & 0x1F) + 1)) as u32;
    assert_eq!(lines, 288);
    vgic.distributor_write(&mut gic, GICD_CTLR, Width::Word, 0);
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_CTLR, Width::Word) >> 31,
        0,
        "RWP"
    );
    for intid in (32..lines).step_by(32) {
        vgic.distributor_write(&mut gic, word_offset(GICD_IGROUPR, intid), Width::Word, !0);
    }
    for intid in (32..lines).step_by(16) {
        let offset = GICD_ICFGR + u64::from(intid / 4);
        vgic.distributor_write(&mut gic, offset, Width::Word, 0);
    }
    for intid in (32..lines).step_by(4) {
        let offset = GICD_IPRIORITYR + u64::from(intid);
        vgic.distributor_write(&mut gic, offset, Width::Word, 0xA0A0_A0A0);
    }
    for intid in (32..lines).step_by(32) {
        vgic.distributor_write(
            &mut gic,
            word_offset(GICD_ICACTIVER, intid),
            Width::Word,
            !0,
        );
        vgic.distributor_write(
            &mut gic,
            word_offset(GICD_ICENABLER, intid),
            Width::Word,
            !0,
        );
    }
    vgic.distributor_write(&mut gic, GICD_CTLR, Width::Word, 0x13);
    for intid in 32..lines {
        let offset = GICD_IROUTER + u64::from(intid) * 8;
        vgic.distributor_write(&mut gic, offset, Width::Double, 0);
    }

    for intid in FIRST_SPI..INTID_COUNT {
        let (group, enabled, pending, active, priority, config, route) = gic.spi(intid);
        if OWNED.contains(&intid) {
            assert!(group && !enabled && pending && !active, "INTID {intid}");
            assert_eq!((priority, config, route), (0xA0, 0, 2), "INTID {intid}");
        } else {
            assert_eq!(gic.spi(intid), pristine.spi(intid), "INTID {intid}");
        }
    }

    // Redistributors: find each vCPU's frame, wake it, configure its private interrupts.
    for vcpu in 0..2 {
        let base = vcpu as u64 * REDISTRIBUTOR_STRIDE;
        assert_eq!(
            vgic.redistributor_read(&mut gic, base + GICR_PIDR2, Width::Word),
            0x3B
        );
        let typer = vgic.redistributor_read(&mut gic, base + GICR_TYPER, Width::Double);
        assert_eq!(typer >> 32, vcpu as u64);
        assert_eq!(typer & 0x10 != 0, vcpu == 1, "Last");
        assert_eq!(typer & 0b1011, 0, "no LPIs");
        let waker = base + GICR_WAKER;
        assert_eq!(vgic.redistributor_read(&mut gic, waker, Width::Word), 0b110);
        vgic.redistributor_write(&mut gic, waker, Width::Word, 0);
        assert_eq!(vgic.redistributor_read(&mut gic, waker, Width::Word), 0);
        vgic.redistributor_write(&mut gic, base + GICR_IGROUPR0, Width::Word, !0);
        vgic.redistributor_write(&mut gic, base + GICR_ICACTIVER0, Width::Word, !0);
        vgic.redistributor_write(&mut gic, base + GICR_ICENABLER0, Width::Word, !0);
        vgic.redistributor_write(&mut gic, base + GICR_ISENABLER0, Width::Word, 0xFFFF);
        for register in 0..8 {
            let offset = base + GICR_IPRIORITYR0 + register * 4;
            vgic.redistributor_write(&mut gic, offset, Width::Word, 0xA0A0_A0A0);
        }
    }
    for vcpu in 0..2 {
        for intid in 0..32 {
            let (group, enabled, pending, active, priority, config) = gic.private(vcpu, intid);
            if GUEST_PPIS.contains(&intid) {
                assert!(group && !enabled && pending && !active, "PPI {intid}");
                assert_eq!(priority, 0xA0);
            } else {
                assert_eq!(
                    (group, enabled, pending, active, priority, config),
                    pristine.private(vcpu, intid),
                    "INTID {intid} on vCPU {vcpu}"
                );
            }
        }
        for sgi in 0..16 {
            assert!(vgic.sgi_enabled(vcpu, sgi));
            assert_eq!(vgic.sgi_priority(vcpu, sgi), 0xA0);
        }
    }

    // A driver enables its interrupt: the UART (SPI 1) and the virtual timer.
    vgic.distributor_write(
        &mut gic,
        word_offset(GICD_ISENABLER, 33),
        Width::Word,
        1 << 1,
    );
    assert!(gic.spi(33).1);
    assert_eq!(
        vgic.distributor_read(&mut gic, word_offset(GICD_ISENABLER, 33), Width::Word),
        1 << 1
    );
    vgic.redistributor_write(&mut gic, GICR_ISENABLER0, Width::Word, 1 << 27);
    assert!(gic.private(0, 27).1);
    assert!(!gic.private(1, 27).1, "only the writing vCPU's core");
}

#[test]
fn non_owned_interrupts_read_zero_and_ignore_writes() {
    let (mut vgic, mut gic) = partition();
    let pristine = gic.clone();
    for intid in [32, 34, 37, 99, 101, 287, 1019] {
        let mut accesses = vec![
            (word_offset(GICD_IGROUPR, intid), Width::Word),
            (GICD_ICFGR + u64::from(intid / 16) * 4, Width::Word),
            (GICD_IPRIORITYR + u64::from(intid), Width::Byte),
            (GICD_IROUTER + u64::from(intid) * 8, Width::Double),
            (GICD_IROUTER + u64::from(intid) * 8 + 4, Width::Word),
        ];
        for base in [
            GICD_ISENABLER,
            GICD_ICENABLER,
            GICD_ISPENDR,
            GICD_ICPENDR,
            GICD_ISACTIVER,
            GICD_ICACTIVER,
        ] {
            accesses.push((word_offset(base, intid), Width::Word));
        }
        for (offset, width) in accesses {
            let value = vgic.distributor_read(&mut gic, offset, width);
            // This INTID's bit, field, byte or route in what was read.
            let own = match offset {
                0x80..=0x3FF => value >> (intid % 32) & 1,
                0xC00..=0xCFF => value >> ((intid % 16) * 2) & 0b11,
                _ => value,
            };
            assert_eq!(own, 0, "INTID {intid} at {offset:#x}");
            vgic.distributor_write(&mut gic, offset, width, u64::MAX);
            vgic.distributor_write(&mut gic, offset, width, 0);
        }
        assert_eq!(gic.spi(intid), pristine.spi(intid), "INTID {intid}");
    }
    // The word holding 35 and 36 also holds 32..=39: a word write changes only theirs.
    let offset = GICD_IPRIORITYR + 32;
    assert_eq!(
        vgic.distributor_read(&mut gic, offset, Width::Word),
        0x5500_5500
    );
    vgic.distributor_write(&mut gic, offset, Width::Word, 0x1122_3344);
    assert_eq!(
        vgic.distributor_read(&mut gic, offset, Width::Word),
        0x1100_3300
    );
    assert_eq!(gic.spi(32).4, 0x55);
    assert_eq!(gic.spi(33).4, 0x33);
    vgic.distributor_write(&mut gic, GICD_IPRIORITYR + 35, Width::Byte, 0x80);
    assert_eq!(
        vgic.distributor_read(&mut gic, GICD_IPRIORITYR + 35, Width::Byte),
        0x80
    );
    // ICFGR2 covers 32..=47: only the fields of 33, 35, 36 change.
    let icfgr2 = GICD_ICFGR + 8;
    vgic.distributor_write(&mut gic, icfgr2, Width::Word, 0);
    assert_eq!(
        gic.distributor.load(icfgr2, 4),
        0xFFFF_FFFF & !(0b11 << 2 | 0b1111 << 6)
    );
    assert_eq!(vgic.distributor_read(&mut gic, icfgr2, Width::Word), 0);
    vgic.distributor_write(&mut gic, icfgr2, Width::Word, 0xFFFF_FFFF);
    assert_eq!(
        vgic.distributor_read(&mut gic, icfgr2, Width::Word),
        0b11 << 2 | 0b1111 << 6
    );
    // SGI/PPI banks of the distributor are RAZ/WI with ARE = 1.
    let writes = gic.writes.len();
    for base in [GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ICACTIVER] {
        assert_eq!(vgic.distributor_read(&mut gic, base, Width::Word), 0);
        vgic.distributor_write(&mut gic, base, Width::Word, !0);
    }
    assert_eq!(gic.writes.len(), writes);
}

#[test]
fn irouter_translates_between_vcpus_and_cores() {
    let mpidrs = vec![0x8000_0100, 0x8000_0101, 0x81_8000_0000];
    let mut vgic = VirtualGic::new(Ownership::new([40]), mpidrs);
    let mut gic = FakeGic::new(3);
    let route = GICD_IROUTER + 40 * 8;
    let physical = |gic: &FakeGic| gic.distributor.load(route, 8);
    for (guest, core, seen) in [
        (1, 0x101, 1),
        (2, 0x81_0000_0000, 2),
        (0, 0x100, 0),
        (3, 0x100, 0),                       // no such vCPU
        (1 << 31 | 1, 0x100, 0),             // IRM: any core
        (0x100, 0x100, 0),                   // Aff1 outside the partition
        (1 << 32 | 1, 0x100, 0),             // Aff3 outside the partition
        (0xFF << 56 | 2, 0x81_0000_0000, 2), // RES0 bits ignored
    ] {
        vgic.distributor_write(&mut gic, route, Width::Double, guest);
        assert_eq!(physical(&gic), core, "guest wrote {guest:#x}");
        assert_eq!(vgic.distributor_read(&mut gic, route, Width::Double), seen);
    }
    // 32-bit halves, as a 32-bit guest writes them.
    vgic.distributor_write(&mut gic, route, Width::Word, 1);
    vgic.distributor_write(&mut gic, route + 4, Width::Word, 0);
    assert_eq!(physical(&gic), 0x101);
    assert_eq!(vgic.distributor_read(&mut gic, route, Width::Word), 1);
    assert_eq!(vgic.distributor_read(&mut gic, route + 4, Width::Word), 0);
    vgic.distributor_write(&mut gic, route + 4, Width::Word, 1);
    assert_eq!(physical(&gic), 0x100, "Aff3 = 1 is no vCPU");
    // A route the guest could not have set reads as vCPU 0.
    for stray in [0x3, 0x8000_0101] {
        gic.distributor.store(route, 8, stray);
        assert_eq!(vgic.distributor_read(&mut gic, route, Width::Double), 0);
    }
    // Byte and half accesses, and routes of SGIs/PPIs, are RAZ/WI.
    gic.writes.clear();
    vgic.distributor_write(&mut gic, route, Width::Byte, 1);
    vgic.distributor_write(&mut gic, route, Width::Half, 1);
    vgic.distributor_write(&mut gic, GICD_IROUTER + 27 * 8, Width::Double, 1);
    assert!(gic.writes.is_empty());
}

#[test]
fn redistributor_type_and_last_for_one_to_four_vcpus() {
    for vcpus in 1..=4usize {
        let mut vgic = VirtualGic::new(Ownership::new([]), (0..vcpus as u64).rev().collect());
        let mut gic = FakeGic::new(vcpus);
        assert_eq!(vgic.redistributor_region_size(), vcpus as u64 * 0x2_0000);
        for vcpu in 0..vcpus {
            let base = vcpu as u64 * REDISTRIBUTOR_STRIDE;
            let last = if vcpu + 1 == vcpus { 0x10 } else { 0 };
            let typer = vgic.redistributor_read(&mut gic, base + GICR_TYPER, Width::Double);
            assert_eq!(typer, (vcpu as u64) << 32 | (vcpu as u64) << 8 | last);
            let low = vgic.redistributor_read(&mut gic, base + GICR_TYPER, Width::Word);
            let high = vgic.redistributor_read(&mut gic, base + GICR_TYPER + 4, Width::Word);
            assert_eq!(high << 32 | low, typer);
            assert_eq!(
                vgic.redistributor_read(&mut gic, base + GICR_IIDR, Width::Word),
                0x0300_043B
            );
        }
        // Past the last frame there is nothing.
        let beyond = vgic.redistributor_region_size();
        assert_eq!(
            vgic.redistributor_read(&mut gic, beyond + GICR_PIDR2, Width::Word),
            0
        );
        vgic.redistributor_write(&mut gic, beyond + GICR_ISENABLER0, Width::Word, !0);
        assert!(gic.writes.is_empty());
    }
}

#[test]
fn sgi_enables_and_priorities_are_virtual_per_vcpu() {
    let (mut vgic, mut gic) = partition();
    let second = REDISTRIBUTOR_STRIDE;
    vgic.redistributor_write(
        &mut gic,
        second + GICR_ISENABLER0,
        Width::Word,
        1 << 3 | 1 << 9,
    );
    vgic.redistributor_write(&mut gic, second + GICR_ICENABLER0, Width::Word, 1 << 9);
    vgic.redistributor_write(&mut gic, second + GICR_IPRIORITYR0 + 5, Width::Byte, 0x80);
    vgic.redistributor_write(
        &mut gic,
        second + GICR_IPRIORITYR0 + 12,
        Width::Word,
        0x4030_2010,
    );
    assert!(gic.writes.is_empty(), "SGIs never reach the hardware");
    assert!(vgic.sgi_enabled(1, 3));
    assert!(!vgic.sgi_enabled(1, 9));
    assert!(!vgic.sgi_enabled(0, 3));
    assert_eq!(vgic.sgi_priority(1, 5), 0x80);
    assert_eq!(vgic.sgi_priority(1, 15), 0x40);
    assert_eq!(vgic.sgi_priority(0, 5), 0);
    assert_eq!(
        vgic.redistributor_read(&mut gic, second + GICR_IPRIORITYR0 + 12, Width::Word),
        0x4030_2010
    );
    // Guest PPIs read back from the hardware; other PPIs read as zero.
    assert_eq!(
        vgic.redistributor_read(&mut gic, second + GICR_ISENABLER0, Width::Word),
        1 << 3 | u64::from(GUEST_PPI_MASK)
    );
    assert_eq!(
        vgic.redistributor_read(&mut gic, second + GICR_ICFGR0, Width::Word),
        0xAAAA_AAAA
    );
    // Out of range questions have answers too.
    assert!(!vgic.sgi_enabled(2, 3));
    assert!(!vgic.sgi_enabled(1, 16));
    assert_eq!(vgic.sgi_priority(7, 0), 0);
    // Partition reset forgets it all.
    vgic.redistributor_write(&mut gic, second + GICR_WAKER, Width::Word, 0);
    vgic.distributor_write(&mut gic, GICD_CTLR, Width::Word, 2);
    vgic.reset();
    assert!(!vgic.sgi_enabled(1, 3));
    assert_eq!(vgic.sgi_priority(1, 5), 0);
    assert!(!vgic.group1_enabled());
    assert_eq!(
        vgic.redistributor_read(&mut gic, second + GICR_WAKER, Width::Word),
        0b110
    );
}

#[test]
fn ppi_pass_through_is_limited_to_guest_ppis() {
    let mut vgic = VirtualGic::new(Ownership::new(OWNED), MPIDRS.to_vec());
    let mut gic = FakeGic::new(2);
    for register in [GICR_ISENABLER0, GICR_ISPENDR0, GICR_ISACTIVER0] {
        vgic.redistributor_write(&mut gic, register, Width::Word, !0);
        assert_eq!(
            gic.redistributors[0].load(register, 4),
            u64::from(GUEST_PPI_MASK)
        );
        assert_eq!(gic.redistributors[1].load(register, 4), 0);
    }
    for register in [GICR_ICENABLER0, GICR_ICPENDR0, GICR_ICACTIVER0] {
        vgic.redistributor_write(&mut gic, register, Width::Word, 1 << 27);
        assert_eq!(
            gic.redistributors[0].read(register, Width::Word),
            u64::from(GUEST_PPI_MASK & !(1 << 27))
        );
    }
    // Pending and active bits of SGIs are not the model's to show.
    gic.redistributors[0].store(GICR_ISPENDR0, 4, 0xFFFF_FFFF);
    assert_eq!(
        vgic.redistributor_read(&mut gic, GICR_ISPENDR0, Width::Word),
        u64::from(GUEST_PPI_MASK)
    );
    // Priorities: the maintenance interrupt (25) and EL2 timers (26, 28) are the hypervisor's.
    vgic.redistributor_write(&mut gic, GICR_IPRIORITYR0 + 24, Width::Word, 0x9090_9090);
    vgic.redistributor_write(&mut gic, GICR_IPRIORITYR0 + 28, Width::Word, 0x9090_9090);
    vgic.redistributor_write(&mut gic, GICR_IPRIORITYR0 + 23, Width::Byte, 0x70);
    let priorities: Vec<u64> = (16..32)
        .map(|intid| gic.redistributors[0].load(GICR_IPRIORITYR0 + intid, 1))
        .collect();
    let mut expected = vec![0; 16];
    expected[23 - 16] = 0x70;
    expected[27 - 16] = 0x90;
    expected[30 - 16] = 0x90;
    assert_eq!(priorities, expected);
    assert_eq!(
        vgic.redistributor_read(&mut gic, GICR_IPRIORITYR0 + 24, Width::Word),
        0x9000_0000
    );
    // Configuration: only the guest PPIs' fields of ICFGR1.
    vgic.redistributor_write(&mut gic, GICR_ICFGR1, Width::Word, 0xFFFF_FFFF);
    let fields = 0b11 << 14 | 0b11 << 22 | 0b11 << 28;
    assert_eq!(gic.redistributors[0].load(GICR_ICFGR1, 4), fields);
    assert_eq!(
        vgic.redistributor_read(&mut gic, GICR_ICFGR1, Width::Word),
        fields
    );
    vgic.redistributor_write(&mut gic, GICR_ICFGR0, Width::Word, 0);
    assert_eq!(gic.redistributors[0].load(GICR_ICFGR0, 4), 0);
    assert_eq!(
        vgic.redistributor_read(&mut gic, GICR_IGROUPR0, Width::Word),
        0xFFFF | u64::from(GUEST_PPI_MASK)
    );
}

#[test]
fn reset_physical_cleans_owned_interrupts_only() {
    let (mut vgic, mut gic) = partition();
    let pristine = gic.clone();
    vgic.reset_physical(&mut gic);
    for intid in FIRST_SPI..INTID_COUNT {
        if OWNED.contains(&intid) {
            let (group, enabled, pending, active, priority, _, route) = gic.spi(intid);
            assert!(group && !enabled && !pending && !active, "INTID {intid}");
            assert_eq!((priority, route), (u64::from(DEFAULT_PRIORITY), 2));
        } else {
            assert_eq!(gic.spi(intid), pristine.spi(intid), "INTID {intid}");
        }
    }
    for vcpu in 0..2 {
        for intid in 0..32 {
            let state = gic.private(vcpu, intid);
            if GUEST_PPIS.contains(&intid) {
                assert!(state.0 && !state.1 && !state.2 && !state.3, "PPI {intid}");
                assert_eq!(state.4, u64::from(DEFAULT_PRIORITY));
            } else {
                assert_eq!(state, pristine.private(vcpu, intid));
            }
        }
    }
}

/// A guest access anywhere near the GIC frames.
fn access() -> impl Strategy<Value = (bool, u64, Width, u64, bool)> {
    let width = prop_oneof![
        1 => Just(Width::Byte),
        1 => Just(Width::Half),
        4 => Just(Width::Word),
        1 => Just(Width::Double)
    ];
    // Register starts (of either frame, any vCPU up to one past the last), give or take a few bytes.
    let registers = [
        GICD_CTLR,
        GICD_TYPER,
        GICD_IGROUPR,
        GICD_ISENABLER,
        GICD_ICENABLER,
        GICD_ISPENDR,
        GICD_ICPENDR,
        GICD_ISACTIVER,
        GICD_ICACTIVER,
        GICD_IPRIORITYR,
        GICD_ICFGR,
        GICD_IROUTER + 32 * 8,
        GICR_TYPER,
        GICR_WAKER,
        GICR_IGROUPR0,
        GICR_ISENABLER0,
        GICR_ICENABLER0,
        GICR_ISPENDR0,
        GICR_ICPENDR0,
        GICR_ISACTIVER0,
        GICR_ICACTIVER0,
        GICR_IPRIORITYR0,
        GICR_ICFGR0,
        GICR_ICFGR1,
        GICD_ICFGR + 8,
        GICD_IPRIORITYR + 32,
        GICD_IROUTER + 33 * 8,
    ];
    let near_register = (
        prop::sample::select(registers.to_vec()),
        0u64..3,
        prop_oneof![2 => Just(0u64), 2 => (0u64..8).prop_map(|n| n * 4), 1 => 0u64..0x20],
    )
        .prop_map(|(register, vcpu, delta)| register + vcpu * REDISTRIBUTOR_STRIDE + delta);
    let offset = prop_oneof![
        4 => near_register,
        1 => 0u64..0x1000,
        1 => 0x6000u64..0x8000,
        1 => 0xFF00u64..0x1_0100,
        1 => 0x1_0000u64..0x1_1000,
        1 => 0x2_0000u64..0x3_1000,
        1 => 0x4_0000u64..0x4_0100,
        1 => any::<u64>(),
    ];
    (any::<bool>(), offset, width, any::<u64>(), any::<bool>())
}

proptest! {
    #[test]
    fn random_accesses_never_panic_nor_touch_what_is_not_owned(
        accesses in prop::collection::vec(access(), 1..64),
        scribbled in any::<bool>(),
    ) {
        // All state set (so clearing shows) or all clear (so setting shows).
        let mut vgic = VirtualGic::new(Ownership::new(OWNED), MPIDRS.to_vec());
        let mut gic = if scribbled {
            FakeGic::scribbled(MPIDRS.len())
        } else {
            FakeGic::new(MPIDRS.len())
        };
        let pristine = gic.clone();
        for (distributor, offset, width, value, write) in accesses {
            let read = match (distributor, write) {
                (true, true) => { vgic.distributor_write(&mut gic, offset, width, value); 0 }
                (true, false) => vgic.distributor_read(&mut gic, offset, width),
                (false, true) => { vgic.redistributor_write(&mut gic, offset, width, value); 0 }
                (false, false) => vgic.redistributor_read(&mut gic, offset, width),
            };
            prop_assert_eq!(read & !width.mask(), 0);
        }
        for intid in FIRST_SPI..INTID_COUNT {
            if !OWNED.contains(&intid) {
                prop_assert_eq!(gic.spi(intid), pristine.spi(intid), "INTID {}", intid);
            }
        }
        for vcpu in 0..2 {
            for intid in 0..32 {
                if !GUEST_PPIS.contains(&intid) {
                    prop_assert_eq!(gic.private(vcpu, intid), pristine.private(vcpu, intid));
                }
            }
        }
        // Writes land only in per-INTID registers.
        for (target, offset, _, _) in &gic.writes {
            let allowed = match target {
                Target::Distributor => (0x100..0x800).contains(offset)
                    || (0xC00..0xD00).contains(offset)
                    || (0x6000..0x8000).contains(offset),
                Target::Redistributor(_) => (0x1_0100..0x1_0420).contains(offset)
                    || *offset == GICR_ICFGR1,
            };
            prop_assert!(allowed, "{:?} write at {:#x}", target, offset);
        }
    }
}

/// Virtual SPIs (channel doorbells) live in the model only: the guest
/// programs them like any SPI and nothing reaches the physical GIC.
#[test]
fn virtual_spis_are_modelled_not_passed_through() {
    let doorbell = 961;
    let mut vgic = VirtualGic::new(Ownership::new([40]), vec![0x100, 0x101])
        .with_virtual_spis([doorbell, 962]);
    let mut gic = FakeGic::new(2);
    let bank = GICD_ISENABLER + u64::from(doorbell / 32) * 4;
    let bit = 1u64 << (doorbell % 32);
    // TYPER covers them.
    let typer = vgic.distributor_read(&mut gic, GICD_TYPER, Width::Word);
    assert_eq!(typer & u64::from(TYPER_IT_LINES_NUMBER), 31);
    // Raised while disabled: latched, visible in ISPENDR.
    assert_eq!(vgic.deliver_virtual_spi(doorbell), None);
    let pending = GICD_ISPENDR + u64::from(doorbell / 32) * 4;
    assert_eq!(vgic.distributor_read(&mut gic, pending, Width::Word), bit);
    // Priority, edge trigger and a route to vCPU 1.
    vgic.distributor_write(
        &mut gic,
        GICD_IPRIORITYR + u64::from(doorbell),
        Width::Byte,
        0x80,
    );
    let icfgr = GICD_ICFGR + u64::from(doorbell / 16) * 4;
    vgic.distributor_write(&mut gic, icfgr, Width::Word, 0b10 << ((doorbell % 16) * 2));
    vgic.distributor_write(
        &mut gic,
        GICD_IROUTER + u64::from(doorbell) * 8,
        Width::Double,
        1,
    );
    assert_eq!(
        vgic.distributor_read(
            &mut gic,
            GICD_IROUTER + u64::from(doorbell) * 8,
            Width::Double
        ),
        1
    );
    assert_eq!(
        vgic.distributor_read(&mut gic, icfgr, Width::Word),
        0b10 << ((doorbell % 16) * 2)
    );
    // Enabling with group 1 off delivers nothing yet.
    vgic.distributor_write(&mut gic, bank, Width::Word, bit);
    assert_eq!(vgic.distributor_read(&mut gic, bank, Width::Word), bit);
    assert_eq!(vgic.take_deliverable(), 0);
    vgic.distributor_write(
        &mut gic,
        GICD_CTLR,
        Width::Word,
        u64::from(CTLR_ENABLE_GRP1),
    );
    assert_eq!(vgic.take_deliverable(), virtual_spi_bit(doorbell).unwrap());
    assert_eq!(vgic.take_deliverable(), 0, "delivered once");
    assert_eq!(vgic.deliver_virtual_spi(doorbell), Some((1, 0x80)));
    assert_eq!(vgic.virtual_spi_route(doorbell), 1);
    // None of it touched the physical GIC.
    assert!(gic.writes.iter().all(|&(_, offset, _, _)| offset != bank));
    // An INTID the partition lacks stays RAZ/WI.
    let other = GICD_ISENABLER + 963 / 32 * 4;
    vgic.distributor_write(&mut gic, other, Width::Word, 1 << (963 % 32));
    assert_eq!(
        vgic.distributor_read(&mut gic, other, Width::Word) & (1 << (963 % 32)),
        0
    );
    assert_eq!(vgic.deliver_virtual_spi(963), None);
    // A reset forgets it all.
    vgic.reset();
    assert_eq!(vgic.distributor_read(&mut gic, bank, Width::Word), 0);
}

/// The GICv2 distributor model against a fake GICv2: a 4 KiB distributor
/// whose SGI/PPI registers are banked per core (one frame per core here, as
/// the hypervisor reaches each from its own core), bytes allowed where
/// GICv2 allows them (IPRIORITYR, ITARGETSR), no IROUTER.
mod gicv2 {
    use super::*;
    use crate::vgic::DistributorV2Effect;

    const GICD_ITARGETSR: u64 = 0x800;
    const GICD_SGIR: u64 = 0xF00;

    struct FakeGicV2 {
        shared: FakeFrame,
        banked: Vec<FakeFrame>,
    }

    impl FakeGicV2 {
        fn new(cores: usize) -> Self {
            let mut shared = FakeFrame::new(0x1000, GICD_ISENABLER);
            // 288 INTIDs, 4 CPUs.
            shared.store(GICD_TYPER, 4, 8 | (3 << 5));
            FakeGicV2 {
                shared,
                banked: (0..cores)
                    .map(|_| FakeFrame::new(0x1000, GICD_ISENABLER))
                    .collect(),
            }
        }

        fn check(offset: u64, width: Width) {
            assert!(
                width.aligned(offset) && offset + width.bytes() as u64 <= 0x1000,
                "GICv2 distributor: bad access {offset:#x} {width:?}"
            );
            let allowed = match width {
                Width::Word => true,
                Width::Byte => (0x400..0xC00).contains(&offset),
                _ => false,
            };
            assert!(
                allowed,
                "GICv2 distributor: {width:?} access at {offset:#x}"
            );
        }

        fn targets(&self, intid: u32) -> u64 {
            self.shared.load(GICD_ITARGETSR + u64::from(intid), 1)
        }
    }

    impl PhysicalGic for FakeGicV2 {
        fn read_distributor(&mut self, offset: u64, width: Width) -> u64 {
            Self::check(offset, width);
            self.shared.read(offset, width)
        }

        fn write_distributor(&mut self, offset: u64, width: Width, value: u64) {
            Self::check(offset, width);
            self.shared.write(offset, width, value);
        }

        /// The hypervisor maps SGI_base + X to the banked GICD register X of
        /// the vCPU's core; nothing else of a redistributor exists.
        fn read_redistributor(&mut self, vcpu: usize, offset: u64, width: Width) -> u64 {
            let local = offset
                .checked_sub(SGI_BASE)
                .expect("only SGI_base registers");
            Self::check(local, width);
            self.banked[vcpu].read(local, width)
        }

        fn write_redistributor(&mut self, vcpu: usize, offset: u64, width: Width, value: u64) {
            let local = offset
                .checked_sub(SGI_BASE)
                .expect("only SGI_base registers");
            Self::check(local, width);
            self.banked[vcpu].write(local, width, value);
        }
    }

    /// A 2-vCPU partition on the cores with CPU interfaces 2 and 3, owning
    /// SPIs 40 and 41; another partition (interfaces 0 and 1) owns SPI 42.
    fn partition() -> (VirtualGic, FakeGicV2) {
        let vgic = VirtualGic::new(Ownership::new([40, 41]), vec![2, 3])
            .with_gicv2_cpu_interfaces(vec![2, 3]);
        (vgic, FakeGicV2::new(4))
    }

    #[test]
    fn sgi_pending_registers_name_sgi_and_source_pairs() {
        use crate::pending_sgis::{PendingSgi, Taken};
        use crate::vgic::{sgi_pending_read, DistributorV2Effect};
        let (mut vgic, mut gic) = partition();
        // SPENDSGIR1 byte 1 (SGI 5) from sources 0 and 3.
        let effect = vgic.distributor_v2_write(&mut gic, 1, 0xF25, Width::Byte, 0b1001);
        let mut expected = Taken::default();
        expected.insert(PendingSgi { sgi: 5, source: 0 });
        expected.insert(PendingSgi { sgi: 5, source: 3 });
        assert_eq!(
            effect,
            DistributorV2Effect::SgiPending {
                set: true,
                pairs: expected
            }
        );
        // CPENDSGIR0 as a word: SGIs 0..3, byte by byte.
        let effect = vgic.distributor_v2_write(&mut gic, 0, 0xF10, Width::Word, 0x0100_0002);
        let DistributorV2Effect::SgiPending { set: false, pairs } = effect else {
            panic!("{effect:?}");
        };
        assert_eq!(pairs.sources(0), 0b10);
        assert_eq!(pairs.sources(3), 0b1);
        // Writing zeros, or a width the registers do not have, does nothing.
        for (offset, width, value) in [(0xF20, Width::Word, 0), (0xF20, Width::Half, 0xffff)] {
            let effect = vgic.distributor_v2_write(&mut gic, 0, offset, width, value);
            assert_eq!(effect, DistributorV2Effect::None);
        }
        // Both banks read the vCPU's pending pairs; nothing else asks for them.
        let pending = || expected;
        assert_eq!(sgi_pending_read(0xF24, Width::Word, pending), Some(0x0900));
        assert_eq!(sgi_pending_read(0xF14, Width::Word, pending), Some(0x0900));
        assert_eq!(sgi_pending_read(0xF15, Width::Byte, pending), Some(0x09));
        assert_eq!(
            sgi_pending_read(0xF00, Width::Word, || unreachable!()),
            None
        );
        assert_eq!(
            sgi_pending_read(0xF30, Width::Word, || unreachable!()),
            None
        );
    }

    #[test]
    fn fixed_registers_answer_as_the_gicv2_model_does() {
        let (mut vgic, mut gic) = partition();
        let fixed = crate::vgic::FixedRegisters::capture(|offset| {
            vgic.distributor_v2_read(&mut gic, 0, offset, Width::Word)
        });
        for offset in [GICD_TYPER, GICD_IIDR, 0xFE8, 0xFD0, 0xFFC] {
            for vcpu in 0..2 {
                let model = vgic.distributor_v2_read(&mut gic, vcpu, offset, Width::Word);
                assert_eq!(fixed.read(offset, Width::Word), Some(model), "{offset:#x}");
            }
        }
    }

    #[test]
    fn identifies_as_a_gicv2_with_its_own_cpus() {
        let (mut vgic, mut gic) = partition();
        assert!(vgic.is_gicv2());
        let typer = vgic.distributor_v2_read(&mut gic, 0, GICD_TYPER, Width::Word);
        assert_eq!(typer, 8 | (1 << 5));
        assert!(!vgic.group1_enabled());
        vgic.distributor_v2_write(&mut gic, 0, GICD_CTLR, Width::Word, 1);
        assert!(vgic.group1_enabled());
        assert_eq!(
            vgic.distributor_v2_read(&mut gic, 0, GICD_CTLR, Width::Word),
            1
        );
        // Each vCPU reads its own interface bit in ITARGETSR0..7 (Linux's gic_get_cpumask).
        assert_eq!(
            vgic.distributor_v2_read(&mut gic, 1, GICD_ITARGETSR, Width::Word),
            0x0202_0202
        );
        assert_eq!(
            vgic.distributor_v2_read(&mut gic, 0, GICD_ITARGETSR + 3, Width::Byte),
            0x01
        );
    }

    #[test]
    fn itargetsr_names_only_the_partitions_cores() {
        let (mut vgic, mut gic) = partition();
        // vCPU 1 -> interface 3.
        vgic.distributor_v2_write(&mut gic, 0, GICD_ITARGETSR + 40, Width::Byte, 0b10);
        assert_eq!(gic.targets(40), 0b1000);
        assert_eq!(
            vgic.distributor_v2_read(&mut gic, 0, GICD_ITARGETSR + 40, Width::Byte),
            0b10
        );
        // Every bit set: the foreign cores' interfaces (0, 1) are dropped.
        vgic.distributor_v2_write(
            &mut gic,
            0,
            GICD_ITARGETSR + 40,
            Width::Word,
            u64::from(u32::MAX),
        );
        assert_eq!(gic.targets(40), 0b1100);
        assert_eq!(gic.targets(41), 0b1100);
        // SPI 42 and 43 are not the partition's: untouched, read as zero.
        assert_eq!(gic.targets(42), 0);
        assert_eq!(gic.targets(43), 0);
        gic.shared.store(GICD_ITARGETSR + 42, 1, 0b0001);
        assert_eq!(
            vgic.distributor_v2_read(&mut gic, 0, GICD_ITARGETSR + 40, Width::Word),
            0x0000_0303
        );
    }

    #[test]
    fn sgir_reaches_only_the_partitions_vcpus() {
        let (mut vgic, mut gic) = partition();
        let write = |vgic: &mut VirtualGic, gic: &mut FakeGicV2, sender, value| {
            vgic.distributor_v2_write(gic, sender, GICD_SGIR, Width::Word, value)
        };
        assert_eq!(
            write(&mut vgic, &mut gic, 0, 0x00ff_0003),
            DistributorV2Effect::Sgi {
                intid: 3,
                vcpus: 0b11
            }
        );
        assert_eq!(
            write(&mut vgic, &mut gic, 1, 0x0100_0001),
            DistributorV2Effect::Sgi {
                intid: 1,
                vcpus: 0b01
            }
        );
        // A list naming only interfaces beyond the partition's vCPUs: nothing.
        assert_eq!(
            write(&mut vgic, &mut gic, 0, 0x00fc_0001),
            DistributorV2Effect::None
        );
        // Nothing reached the physical distributor's SGIR.
        assert_eq!(gic.shared.load(GICD_SGIR, 4), 0);
    }

    #[test]
    fn banked_registers_are_the_accessing_vcpus() {
        let (mut vgic, mut gic) = partition();
        // Linux's per-CPU init: SGIs enabled, PPIs disabled.
        vgic.distributor_v2_write(&mut gic, 1, GICD_ICENABLER, Width::Word, 0xffff_0000);
        vgic.distributor_v2_write(&mut gic, 1, GICD_ISENABLER, Width::Word, 0x0000_ffff);
        assert!(vgic.sgi_enabled(1, 5));
        assert!(!vgic.sgi_enabled(0, 5));
        // The virtual timer PPI (27) is the guest's; PPI 26 (EL2 timer) is not.
        vgic.distributor_v2_write(&mut gic, 1, GICD_ISENABLER, Width::Word, 1 << 27 | 1 << 26);
        assert_eq!(gic.banked[1].load(GICD_ISENABLER, 4), 1 << 27);
        assert_eq!(gic.banked[0].load(GICD_ISENABLER, 4), 0);
        vgic.distributor_v2_write(&mut gic, 0, GICD_IPRIORITYR + 4, Width::Word, 0xa0a0_a0a0);
        assert_eq!(vgic.sgi_priority(0, 5), 0xa0);
        assert_eq!(vgic.sgi_priority(1, 5), 0);
    }

    #[test]
    fn reset_routes_spis_to_vcpu_zero_by_itargetsr() {
        let (mut vgic, mut gic) = partition();
        vgic.reset_physical(&mut gic);
        assert_eq!(gic.targets(40), 0b0100);
        assert_eq!(gic.targets(41), 0b0100);
        assert_eq!(gic.targets(42), 0);
    }

    proptest! {
        #[test]
        fn no_access_reaches_another_partitions_spi(
            offset in 0u64..0x1000,
            value in any::<u32>(),
            byte in any::<bool>(),
            vcpu in 0usize..2,
        ) {
            let (mut vgic, mut gic) = partition();
            let (offset, width) = if byte { (offset, Width::Byte) } else { (offset & !3, Width::Word) };
            let before = (gic.targets(42), gic.shared.load(GICD_ISENABLER + 4, 4) & (1 << 10));
            vgic.distributor_v2_write(&mut gic, vcpu, offset, width, u64::from(value));
            vgic.distributor_v2_read(&mut gic, vcpu, offset, width);
            let after = (gic.targets(42), gic.shared.load(GICD_ISENABLER + 4, 4) & (1 << 10));
            prop_assert_eq!(before, after);
        }
    }
}
