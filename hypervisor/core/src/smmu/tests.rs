//! Host tests: every encoding against hand-computed words, decoders against hand-built records.

use proptest::prelude::*;

use super::command::{self, Command};
use super::queue::{event_queue_cons, event_queue_overflowed};
use super::registers::*;
use super::ste::{self, describe, stage2_config_error, CONFIG_ABORT, CONFIG_STAGE2};
use super::*;

/// QEMU 10's ID registers with `-global arm-smmuv3.stage=2` (smmuv3_init_regs):
/// S2P (bit 0), TTF = 0b10 ([3:2]), COHACC (4), ASID16 (12), VMID16 (18),
/// TTENDIAN = 0b10 ([22:21]), STALL_MODEL = 0b01 ([25:24]), TERM_MODEL (26),
/// STLEVEL = 0b01 ([28:27]).
const QEMU_IDR0_STAGE2: u32 = 0x0D44_1019;
/// The default `stage=1`: S1P (bit 1) instead of S2P.
const QEMU_IDR0_STAGE1: u32 = 0x0D44_101A;
/// `stage=nested`: S1P and S2P.
const QEMU_IDR0_NESTED: u32 = 0x0D44_101B;
/// SIDSIZE = 16 ([5:0]), EVENTQS = 19 ([20:16]), CMDQS = 19 ([25:21]).
const QEMU_IDR1: u32 = 0x0273_0010;
/// OAS = 0b100 (44 bits), GRAN4K (4), GRAN16K (5), GRAN64K (6).
const QEMU_IDR5: u32 = 0x74;

fn qemu_features() -> Features {
    Features::from_idr(QEMU_IDR0_STAGE2, QEMU_IDR1, QEMU_IDR5).unwrap()
}

fn bulkhead_config() -> Stage2Config {
    Stage2Config {
        vmid: 0x1234,
        table: 0x4123_4000,
        ipa_bits: 39,
        start_level: 1,
        output_size_field: 0b100,
        record_faults: true,
        incoming_shareability: false,
    }
}

// ---- registers ----

#[test]
fn register_offsets_match_the_specification() {
    assert_eq!(
        [
            IDR0,
            IDR1,
            IDR5,
            CR0,
            CR0ACK,
            CR1,
            CR2,
            GBPA,
            IRQ_CTRL,
            IRQ_CTRLACK
        ],
        [0x00, 0x04, 0x14, 0x20, 0x24, 0x28, 0x2C, 0x44, 0x50, 0x54]
    );
    assert_eq!(
        [GERROR, GERRORN, STRTAB_BASE, STRTAB_BASE_CFG],
        [0x60, 0x64, 0x80, 0x88]
    );
    assert_eq!(
        [CMDQ_BASE, CMDQ_PROD, CMDQ_CONS, EVENTQ_BASE],
        [0x90, 0x98, 0x9C, 0xA0]
    );
    // Page 1: 64 KiB above page 0.
    assert_eq!([EVENTQ_PROD, EVENTQ_CONS], [0x1_00A8, 0x1_00AC]);
}

#[test]
fn base_encoders() {
    // RA (bit 62) + ADDR [51:6].
    assert_eq!(strtab_base(0x4000_0040), 1 << 62 | 0x4000_0040);
    assert_eq!(strtab_base(0xFFF0_0000_4000_007F), 1 << 62 | 0x4000_0040);
    // FMT [17:16] = 0 (linear), LOG2SIZE [5:0].
    assert_eq!(strtab_base_cfg_linear(16), 16);
    assert_eq!(strtab_base_cfg_linear(0xFFFF_FFC5), 5);
    // RA/WA (bit 62) + ADDR [51:5] + LOG2SIZE [4:0].
    assert_eq!(queue_base(0x4001_0000, 8), 1 << 62 | 0x4001_0000 | 8);
    assert_eq!(
        queue_base(0xFFF0_0000_4001_003F, 40),
        1 << 62 | 0x4001_0020 | 8
    );
    // QUEUE_IC/OC = 0b01, QUEUE_SH = 0b11, TABLE_IC/OC = 0b01, TABLE_SH = 0b11.
    assert_eq!(cr1_cacheable_inner_shareable(), 0b11_01_01_11_01_01);
    assert_eq!(cr1_cacheable_inner_shareable(), 0xD75);
    assert_eq!(gbpa_abort(), 0x8010_0000);
    assert_eq!(active_global_errors(0b101, 0b001), GERROR_EVENTQ_ABT_ERR);
}

// ---- features ----

#[test]
fn qemu_stage2_smmu_is_accepted() {
    let features = qemu_features();
    assert!(features.stage2 && !features.stage1);
    assert!(features.aarch64_tables && !features.aarch32_tables);
    assert!(features.granule_4k && features.granule_16k && features.granule_64k);
    assert!(features.coherent && features.vmid16 && features.asid16);
    assert!(features.two_level_stream_table && features.little_endian_ok);
    assert!(features.terminate_always_aborts);
    assert!(!features.attribute_types_override && !features.msi);
    assert_eq!(features.stream_id_bits, 16);
    assert_eq!(features.command_queue_log2_max, 19);
    assert_eq!(features.event_queue_log2_max, 19);
    assert_eq!(features.output_size_field, 4);
    assert_eq!(features.output_address_bits, 44);
    assert_eq!(features.input_address_bits(), 44);
    assert_eq!(features.vmid_bits(), 16);
    assert!(Features::from_idr(QEMU_IDR0_NESTED, QEMU_IDR1, QEMU_IDR5).is_ok());
}

#[test]
fn qemu_default_stage1_smmu_is_refused() {
    let refusal = Features::from_idr(QEMU_IDR0_STAGE1, QEMU_IDR1, QEMU_IDR5).unwrap_err();
    assert_eq!(refusal, Unsupported::NoStage2);
    assert_eq!(
        refusal.to_string(),
        "the SMMU has no stage-2 translation (IDR0.S2P = 0)"
    );
}

#[test]
fn synthetic_refusals() {
    let refuse =
        |idr0: u32, idr1: u32, idr5: u32| Features::from_idr(idr0, idr1, idr5).unwrap_err();
    // TTF = 0b01: AArch32 tables only.
    assert_eq!(
        refuse(
            QEMU_IDR0_STAGE2 & !(0b11 << 2) | 0b01 << 2,
            QEMU_IDR1,
            QEMU_IDR5
        ),
        Unsupported::NoAArch64Tables
    );
    assert_eq!(
        refuse(QEMU_IDR0_STAGE2, QEMU_IDR1, 0x64),
        Unsupported::No4KGranule
    );
    assert_eq!(
        refuse(QEMU_IDR0_STAGE2 | 0b11 << 21, QEMU_IDR1, QEMU_IDR5),
        Unsupported::BigEndianOnly
    );
    assert_eq!(
        refuse(
            QEMU_IDR0_STAGE2 & !(0b11 << 21) | 0b01 << 21,
            QEMU_IDR1,
            QEMU_IDR5
        ),
        Unsupported::ReservedEndianness
    );
    assert_eq!(
        refuse(
            QEMU_IDR0_STAGE2 & !(0b11 << 24) | 0b10 << 24,
            QEMU_IDR1,
            QEMU_IDR5
        ),
        Unsupported::StallForced
    );
    assert_eq!(
        refuse(QEMU_IDR0_STAGE2, QEMU_IDR1 | 1 << 29, QEMU_IDR5),
        Unsupported::PresetQueues
    );
    assert_eq!(
        refuse(QEMU_IDR0_STAGE2, QEMU_IDR1 | 1 << 30, QEMU_IDR5),
        Unsupported::PresetTables
    );
    assert_eq!(
        refuse(QEMU_IDR0_STAGE2, QEMU_IDR1, 0x77),
        Unsupported::ReservedOutputSize(7)
    );
    // Mixed endianness (0b00) is fine; AArch32+AArch64 widens IAS to 40 on a 36-bit SMMU.
    let features = Features::from_idr(
        QEMU_IDR0_STAGE2 & !(0b11 << 21) | 0b11 << 2,
        QEMU_IDR1,
        0x11,
    )
    .unwrap();
    assert!(features.little_endian_ok);
    assert_eq!(features.output_address_bits, 36);
    assert_eq!(features.input_address_bits(), 40);
    for refusal in [
        Unsupported::NoAArch64Tables,
        Unsupported::No4KGranule,
        Unsupported::BigEndianOnly,
        Unsupported::PresetTables,
        Unsupported::ReservedOutputSize(7),
    ] {
        assert!(refusal.to_string().starts_with("the SMMU"));
    }
}

proptest! {
    #[test]
    fn from_idr_never_panics(idr0 in any::<u32>(), idr1 in any::<u32>(), idr5 in any::<u32>()) {
        if let Ok(features) = Features::from_idr(idr0, idr1, idr5) {
            prop_assert!(features.stage2 && features.aarch64_tables && features.granule_4k);
            prop_assert!(features.output_address_bits >= 32);
        }
    }
}

// ---- stream table entries ----

#[test]
fn abort_entry() {
    let entry = ste::abort();
    // V (bit 0) = 1, Config [3:1] = 0b000.
    assert_eq!(entry, [1, 0, 0, 0, 0, 0, 0, 0]);
    let view = describe(&entry);
    assert!(view.valid);
    assert_eq!(view.config, CONFIG_ABORT);
}

#[test]
fn stage2_entry_words() {
    let entry = ste::stage2(&bulkhead_config());
    // Dword 0: V = 1, Config [3:1] = 0b110.
    assert_eq!(entry[0], 0xD);
    // Dword 1: S1STALLD, EATS, STRW (NS-EL1 = 0b00), SHCFG all zero.
    assert_eq!(entry[1], 0);
    // Dword 2: S2VMID [15:0] 0x1234, S2T0SZ [37:32] 25, S2SL0 [39:38] 0b01,
    // S2IR0 [41:40] 0b01, S2OR0 [43:42] 0b01, S2SH0 [45:44] 0b11, S2TG [47:46] 0,
    // S2PS [50:48] 0b100, S2AA64 (51), S2AFFD (53), S2R (58).
    assert_eq!(entry[2], 0x042C_3559_0000_1234);
    assert_ne!(entry[2] & 1 << 51, 0, "S2AA64 = 0 aborts QEMU");
    // Dword 3: S2TTB [51:4].
    assert_eq!(entry[3], 0x4123_4000);
    assert_eq!(entry[4..], [0; 4]);
}

#[test]
fn stage2_entry_round_trips() {
    let config = bulkhead_config();
    let view = describe(&ste::stage2(&config));
    assert!(view.valid);
    assert_eq!(view.config, CONFIG_STAGE2);
    assert_eq!(view.s1cdmax, 0);
    assert!(!view.s1stalld);
    assert_eq!(view.strw, 0);
    assert_eq!(view.shcfg, 0);
    assert_eq!(view.vmid, 0x1234);
    assert_eq!(view.t0sz, 25);
    assert_eq!(view.ipa_bits(), 39);
    assert_eq!(view.sl0, 0b01);
    assert_eq!(view.start_level(), Some(1));
    assert_eq!(
        (view.ir0, view.or0, view.sh0, view.tg),
        (0b01, 0b01, 0b11, 0b00)
    );
    assert_eq!(view.ps, 0b100);
    assert!(view.aa64 && view.affd && view.record_faults);
    assert!(!view.big_endian && !view.ptw && !view.hd && !view.ha && !view.stall);
    assert_eq!(view.table, 0x4123_4000);

    let quiet = Stage2Config {
        record_faults: false,
        incoming_shareability: true,
        start_level: 0,
        ipa_bits: 44,
        ..config
    };
    let view = describe(&ste::stage2(&quiet));
    assert!(!view.record_faults);
    // SHCFG [45:44] of dword 1 = 0b01, use incoming.
    assert_eq!(view.shcfg, 0b01);
    assert_eq!(
        (view.sl0, view.start_level(), view.t0sz),
        (0b10, Some(0), 20)
    );
}

#[test]
fn start_level_encoding() {
    assert_eq!(ste::start_level_field(2), 0b00);
    assert_eq!(ste::start_level_field(1), 0b01);
    assert_eq!(ste::start_level_field(0), 0b10);
}

#[test]
fn stage2_config_errors() {
    let features = qemu_features();
    let base = bulkhead_config();
    let error = |config: Stage2Config| stage2_config_error(&config, &features);
    assert_eq!(error(base), None);
    // Level 2 with 25..=34 bits, level 0 with 40..=44 (QEMU's IAS) are fine.
    assert_eq!(
        error(Stage2Config {
            start_level: 2,
            ipa_bits: 25,
            ..base
        }),
        None
    );
    // 34 bits at level 2 is 16 concatenated tables: a 64 KiB aligned root.
    let sixteen_tables = Stage2Config {
        start_level: 2,
        ipa_bits: 34,
        ..base
    };
    assert_eq!(
        error(Stage2Config {
            table: 0x4121_0000,
            ..sixteen_tables
        }),
        None
    );
    assert!(error(sixteen_tables).unwrap().contains("concatenated"));
    assert_eq!(
        error(Stage2Config {
            start_level: 0,
            ipa_bits: 40,
            ..base
        }),
        None
    );
    // Two concatenated level-1 tables (40 bits) need an 8 KiB aligned root.
    assert_eq!(
        error(Stage2Config {
            ipa_bits: 40,
            table: 0x4123_2000,
            ..base
        }),
        None
    );
    assert!(error(Stage2Config {
        ipa_bits: 40,
        table: 0x4123_3000,
        ..base
    })
    .unwrap()
    .contains("concatenated"));
    assert!(error(Stage2Config {
        start_level: 3,
        ..base
    })
    .unwrap()
    .contains("start level"));
    for (start_level, ipa_bits) in [(2, 24), (2, 35), (1, 30), (1, 44), (0, 39)] {
        let message = error(Stage2Config {
            start_level,
            ipa_bits,
            ..base
        })
        .unwrap();
        assert!(
            message.contains("IPA size does not fit"),
            "{start_level} {ipa_bits}"
        );
    }
    // 48-bit IPA at level 0 is architectural but above QEMU's 44-bit IAS.
    assert!(error(Stage2Config {
        start_level: 0,
        ipa_bits: 48,
        ..base
    })
    .unwrap()
    .contains("input address size"));
    assert!(error(Stage2Config {
        output_size_field: 6,
        ..base
    })
    .unwrap()
    .contains("52-bit"));
    assert!(error(Stage2Config {
        output_size_field: 5,
        ..base
    })
    .unwrap()
    .contains("IDR5.OAS"));
    assert!(error(Stage2Config {
        table: 0x4123_4800,
        ..base
    })
    .unwrap()
    .contains("4 KiB"));
    // S2PS 0b000 is 32 bits: a table at 4 GiB is out of reach (QEMU: C_BAD_STE).
    assert!(error(Stage2Config {
        output_size_field: 0,
        table: 0x1_0000_0000,
        ..base
    })
    .unwrap()
    .contains("above the output"));
    assert!(error(Stage2Config {
        incoming_shareability: true,
        ..base
    })
    .unwrap()
    .contains("ATTR_TYPES_OVR"));
    let eight_bit_vmids = Features {
        vmid16: false,
        ..features
    };
    assert!(stage2_config_error(&base, &eight_bit_vmids)
        .unwrap()
        .contains("VMID"));
    assert_eq!(
        stage2_config_error(&Stage2Config { vmid: 0xFF, ..base }, &eight_bit_vmids),
        None
    );
}

proptest! {
    #[test]
    fn valid_configs_round_trip(
        vmid in any::<u16>(),
        page in 0u64..(1 << 20),
        start_level in 0u32..3,
        ipa_bits in 25u32..=48,
        output_size_field in 0u32..=5,
        record_faults in any::<bool>(),
    ) {
        let features = Features { output_size_field: 5, output_address_bits: 48, ..qemu_features() };
        let config = Stage2Config {
            vmid,
            table: page << 16,
            ipa_bits,
            start_level,
            output_size_field,
            record_faults,
            incoming_shareability: false,
        };
        let view = describe(&ste::stage2(&config));
        if stage2_config_error(&config, &features).is_none() {
            prop_assert_eq!(view.vmid, vmid);
            prop_assert_eq!(view.table, config.table);
            prop_assert_eq!(view.ipa_bits(), u64::from(ipa_bits));
            prop_assert_eq!(view.start_level(), Some(start_level));
            prop_assert_eq!(view.ps, u64::from(output_size_field));
            prop_assert_eq!(view.record_faults, record_faults);
        }
    }

    #[test]
    fn encoders_never_panic(
        vmid in any::<u16>(),
        table in any::<u64>(),
        ipa_bits in any::<u32>(),
        start_level in any::<u32>(),
        output_size_field in any::<u32>(),
    ) {
        let config = Stage2Config {
            vmid,
            table,
            ipa_bits,
            start_level,
            output_size_field,
            record_faults: true,
            incoming_shareability: true,
        };
        let view = describe(&ste::stage2(&config));
        prop_assert!(view.valid && view.aa64);
        let _ = stage2_config_error(&config, &qemu_features());
    }
}

// ---- commands ----

#[test]
fn command_encodings() {
    // CFGI_STE: opcode 0x03 [7:0], StreamID [63:32]; Leaf is dword 1 bit 0.
    assert_eq!(command::cfgi_ste(0x10, true), [0x0000_0010_0000_0003, 1]);
    assert_eq!(
        command::cfgi_ste(0xFFFF_FFFF, false),
        [0xFFFF_FFFF_0000_0003, 0]
    );
    // CFGI_ALL: CFGI_STE_RANGE (0x04) with Range (dword 1 [4:0]) = 31.
    assert_eq!(command::cfgi_all(), [0x04, 31]);
    // TLBI_S12_VMALL: opcode 0x28, VMID [47:32].
    assert_eq!(command::tlbi_s12_vmall(0x1234), [0x0000_1234_0000_0028, 0]);
    // TLBI_S2_IPA: opcode 0x2A, VMID [47:32]; dword 1 Leaf (0), Address [51:12].
    assert_eq!(
        command::tlbi_s2_ipa(5, 0x8000_1234, true),
        [0x0000_0005_0000_002A, 0x8000_1001]
    );
    // TLBI_NSNH_ALL: opcode 0x30 alone.
    assert_eq!(command::tlbi_nsnh_all(), [0x30, 0]);
    // CMD_SYNC: opcode 0x46, CS [13:12] = 0b00 (no signal).
    assert_eq!(command::sync_none(), [0x46, 0]);
    // PREFETCH_CONFIG: opcode 0x01, StreamID [63:32].
    assert_eq!(command::prefetch_config(7), [0x0000_0007_0000_0001, 0]);
    let all: [Command; 4] = [
        command::cfgi_all(),
        command::tlbi_s12_vmall(1),
        command::tlbi_nsnh_all(),
        command::sync_none(),
    ];
    assert_eq!(
        all.map(|command| command::opcode(&command)),
        [0x04, 0x28, 0x30, 0x46]
    );
}

#[test]
fn command_errors() {
    // ERR is CMDQ_CONS [30:24]; the read index below it is ignored.
    assert_eq!(CommandError::from_cons(0x0100_0005), CommandError::Illegal);
    assert_eq!(CommandError::from_cons(0x0200_0000), CommandError::Abort);
    assert_eq!(
        CommandError::from_cons(0x0300_0000),
        CommandError::AtcInvalidationSync
    );
    assert_eq!(
        CommandError::from_cons(0x8000_0000),
        CommandError::Unknown(0)
    );
    assert_eq!(
        CommandError::from_cons(0x7F00_0000),
        CommandError::Unknown(0x7F)
    );
    assert_eq!(CommandError::Illegal.name(), "illegal command");
}

// ---- queues ----

#[test]
fn queue_basics() {
    assert_eq!(QueueIndex::new(20), None);
    let queue = QueueIndex::new(2).unwrap();
    assert_eq!(queue.entries(), 4);
    assert!(queue.is_empty(0, 0));
    // Slot 0 with the wrap bit (bit 2) set against slot 0 without: full.
    assert!(queue.is_full(0b100, 0));
    assert!(!queue.is_full(0b011, 0));
    assert_eq!(queue.next(0b011), 0b100);
    assert_eq!(queue.next(0b111), 0b000);
    assert_eq!(queue.slot(0b110), 2);
    assert!(queue.wrapped(0b110));
    // CMDQ_CONS.ERR and EVENTQ_PROD.OVFLG are not part of the index.
    assert!(queue.is_empty(0x8000_0001, 0x0100_0001));
    assert_eq!(queue.next(0x0100_0003), 0b100);
    assert_eq!(queue.occupied(0b001, 0b111), 2);
    // Zero-sized log2: one entry, wrap bit at bit 0.
    let single = QueueIndex::new(0).unwrap();
    assert!(single.is_full(1, 0));
    assert_eq!(single.slot(1), 0);
}

#[test]
fn event_queue_overflow_acknowledgement() {
    assert!(!event_queue_overflowed(5, 3));
    assert!(event_queue_overflowed(EVENTQ_PROD_OVFLG | 5, 3));
    let queue = QueueIndex::new(4).unwrap();
    let cons = event_queue_cons(&queue, 5, EVENTQ_PROD_OVFLG | 5);
    assert_eq!(cons, EVENTQ_CONS_OVACKFLG | 5);
    assert!(!event_queue_overflowed(EVENTQ_PROD_OVFLG | 5, cons));
}

proptest! {
    #[test]
    fn next_cycles_through_both_wraps(log2 in 0u32..=12, start in any::<u32>()) {
        let queue = QueueIndex::new(log2).unwrap();
        let begin = queue.index(start);
        let mut index = begin;
        let period = 1u64 << (log2 + 1);
        for step in 1..=period {
            index = queue.next(index);
            prop_assert_eq!(index == begin, step == period);
        }
    }

    #[test]
    fn full_and_empty_agree_with_a_model(
        log2 in 0u32..=6,
        operations in proptest::collection::vec(any::<bool>(), 0..300),
        noise in any::<u8>(),
    ) {
        let queue = QueueIndex::new(log2).unwrap();
        let (mut prod, mut cons, mut count) = (0u32, 0u32, 0u32);
        // Garbage in the ERR/OVFLG bits must not matter.
        let flags = u32::from(noise & 0x7F) << 24 | u32::from(noise & 0x80) << 24;
        for push in operations {
            prop_assert_eq!(queue.is_empty(prod | flags, cons), count == 0);
            prop_assert_eq!(queue.is_full(prod, cons | flags), count == queue.entries());
            prop_assert_eq!(queue.occupied(prod | flags, cons | flags), count);
            if push && count < queue.entries() {
                prod = queue.next(prod | flags);
                count += 1;
            } else if !push && count > 0 {
                prop_assert_eq!(queue.slot(cons) as u32, (queue.slot(prod) as u32 + queue.entries() - count) % queue.entries());
                cons = queue.next(cons | flags);
                count -= 1;
            }
        }
    }
}

// ---- events ----

/// An F_TRANSLATION record as QEMU writes it for a stage-2 fault of stream 8.
fn translation_record(read: bool) -> [u64; 4] {
    // dword 0: EventID 0x10 [7:0], StreamID 8 [63:32].
    let dword0 = 0x10 | 8 << 32;
    // dword 1: RnW (35), S2 (39), CLASS [41:40] = 0b10 (input address).
    let dword1 = u64::from(read) << 35 | 1 << 39 | 0b10 << 40;
    [dword0, dword1, 0x8000_1234, 0x8000_1230]
}

#[test]
fn translation_fault_decodes() {
    let read = Event::decode(&translation_record(true));
    assert_eq!(read.kind, EventKind::Translation);
    assert_eq!(read.kind.name(), "translation fault");
    assert_eq!(read.stream_id, 8);
    assert_eq!(read.input_address, 0x8000_1234);
    assert_eq!(read.access, Access::Read);
    assert!(read.stage2);
    assert_eq!(read.ipa, 0x8000_1230);
    assert_eq!(read.class, 0b10);
    assert!(!read.instruction && !read.privileged);

    let write = Event::decode(&translation_record(false));
    assert_eq!(write.access, Access::Write);
    assert_eq!(write.input_address, 0x8000_1234);

    // Stage-1 fault (S2 = 0): no IPA; PnU (33) and InD (34) decode.
    let mut record = translation_record(true);
    record[1] = record[1] & !(1 << 39) | 1 << 33 | 1 << 34;
    let stage1 = Event::decode(&record);
    assert!(!stage1.stage2 && stage1.privileged && stage1.instruction);
    assert_eq!(stage1.ipa, 0);
}

#[test]
fn other_events_decode() {
    let bad_ste = Event::decode(&[0x04 | 0x1234 << 32, 0, 0, 0]);
    assert_eq!(bad_ste.kind, EventKind::BadSte);
    assert_eq!(bad_ste.stream_id, 0x1234);
    assert_eq!(bad_ste.kind.name(), "bad stream table entry");
    assert!(!bad_ste.kind.is_translation_fault());
    let bad_stream = Event::decode(&[0x02 | 0xFFFF_FFFF << 32, u64::MAX, u64::MAX, u64::MAX]);
    assert_eq!(bad_stream.kind, EventKind::BadStreamId);
    assert_eq!(bad_stream.stream_id, 0xFFFF_FFFF);
    assert_eq!(bad_stream.input_address, 0);
    for (id, kind) in [
        (0x11, EventKind::AddressSize),
        (0x12, EventKind::Access),
        (0x13, EventKind::Permission),
        (0x0B, EventKind::Other(0x0B)),
    ] {
        assert_eq!(EventKind::from_id(id), kind);
        assert_eq!(kind.id(), id);
    }
}

proptest! {
    #[test]
    fn decode_never_panics(record in any::<[u64; 4]>()) {
        let event = Event::decode(&record);
        prop_assert_eq!(event.kind.id(), (record[0] & 0xFF) as u8);
        prop_assert!(event.class <= 3);
    }
}

// ---- fault log ----

#[test]
fn fault_log_dedupes_and_counts() {
    let mut log = FaultLog::with_capacity(2, 3);
    assert!(log.is_empty());
    assert_eq!(log.record(0, 8, 0x80001), Recorded::First);
    assert_eq!(log.record(0, 8, 0x80001), Recorded::Repeat);
    // Another partition, stream or page is a different key.
    assert_eq!(log.record(1, 8, 0x80001), Recorded::First);
    assert_eq!(log.len(), 2);
    assert_eq!(
        log.record(0, 9, 0x80001),
        Recorded::Unlogged { report_full: true }
    );
    assert_eq!(
        log.record(0, 8, 0x80002),
        Recorded::Unlogged { report_full: false }
    );
    // Known keys still read as repeats once full.
    assert_eq!(log.record(1, 8, 0x80001), Recorded::Repeat);
    assert_eq!(log.capacity(), 2);
    assert_eq!((log.count(0), log.count(1), log.count(2)), (4, 2, 0));
    // A partition the log was not sized for: counted apart, no panic.
    assert_eq!(log.count(7), 0);
    assert_eq!(
        log.record(7, 1, 1),
        Recorded::Unlogged { report_full: false }
    );
    assert_eq!(log.stray_count(), 1);
}

#[test]
fn empty_fault_log() {
    let mut log = FaultLog::with_capacity(0, 0);
    assert_eq!(
        log.record(0, 0, 0),
        Recorded::Unlogged { report_full: true }
    );
    assert_eq!(
        log.record(0, 0, 0),
        Recorded::Unlogged { report_full: false }
    );
    assert_eq!(log.count(0), 0);
    assert_eq!(log.stray_count(), 2);
}
