//! Bulkhead's guest-visible hypercall ABI, shared by the hypervisor and its guests.
//!
//! Calls follow SMCCC 1.1: function ID in w0, arguments in x1..x6, results in
//! x0..x3, a negative x0 is an error. Both `hvc #0` and `smc #0` reach the
//! same dispatcher.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![forbid(unsafe_code)]

/// SMCCC return codes (signed, as seen in x0).
pub mod ret {
    pub const SUCCESS: i64 = 0;
    pub const NOT_SUPPORTED: i64 = -1;
    pub const INVALID_PARAMETERS: i64 = -2;
    pub const DENIED: i64 = -3;
    /// PSCI: the target vCPU is already on.
    pub const ALREADY_ON: i64 = -4;
    /// PSCI: a CPU_ON for the target is already pending.
    pub const ON_PENDING: i64 = -5;
    pub const INTERNAL_FAILURE: i64 = -6;
    pub const NOT_PRESENT: i64 = -7;
    pub const DISABLED: i64 = -8;
    /// PSCI: the entry point is not inside the caller's memory.
    pub const INVALID_ADDRESS: i64 = -9;
    /// Bulkhead: the target partition is in the middle of another lifecycle
    /// operation (checkpoint, restore, reset, stop) or did not answer within
    /// the bound; nothing was done, try again.
    pub const BUSY: i64 = -10;
}

/// Arm architecture calls (SMCCC owner 0).
pub mod arch {
    pub const SMCCC_VERSION: u32 = 0x8000_0000;
    pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
    pub const SMCCC_ARCH_SOC_ID: u32 = 0x8000_0002;
    pub const SMCCC_ARCH_WORKAROUND_1: u32 = 0x8000_8000;
    pub const SMCCC_ARCH_WORKAROUND_2: u32 = 0x8000_7FFF;
    pub const SMCCC_ARCH_WORKAROUND_3: u32 = 0x8000_3FFF;
    /// SMCCC 1.1, the version Bulkhead implements.
    pub const SMCCC_VERSION_1_1: u32 = 0x0001_0001;
}

/// PSCI 1.1 (SMCCC owner 4). `*_64` IDs take 64-bit arguments.
pub mod psci {
    pub const VERSION: u32 = 0x8400_0000;
    pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
    pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
    pub const CPU_OFF: u32 = 0x8400_0002;
    pub const CPU_ON_32: u32 = 0x8400_0003;
    pub const CPU_ON_64: u32 = 0xC400_0003;
    pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
    pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    pub const FEATURES: u32 = 0x8400_000A;
    /// PSCI 1.1, the version Bulkhead implements.
    pub const VERSION_1_1: u32 = 0x0001_0001;
    /// MIGRATE_INFO_TYPE answer: no Trusted OS that needs migration.
    pub const TOS_NOT_PRESENT_MP: u64 = 2;
    /// AFFINITY_INFO answers.
    pub const AFFINITY_ON: u64 = 0;
    pub const AFFINITY_OFF: u64 = 1;
    pub const AFFINITY_ON_PENDING: u64 = 2;
}

/// Bulkhead's own calls, in the vendor-specific hypervisor range (owner 6).
///
/// Each ID exists as a 64-bit (0xC6..) and a 32-bit (0x86..) form; the
/// hypervisor accepts both and reads 64-bit arguments either way.
pub mod vendor {
    /// x0 <- version: major << 16 | minor.
    pub const VERSION: u32 = 0xC600_0000;
    /// x0 <- SUCCESS, x1 <- partition id, x2 <- vCPU count,
    /// x3 <- calling vCPU index, x4 <- memory bytes mapped as RAM.
    pub const PARTITION_INFO: u32 = 0xC600_0001;
    /// x1 = IPA of a byte buffer, x2 = length. Writes the bytes to the
    /// hypervisor console, each line prefixed with the caller's label.
    /// x0 <- bytes written (at most [`CONSOLE_WRITE_MAX`]) or an error.
    pub const CONSOLE_WRITE: u32 = 0xC600_0002;
    /// Does nothing and returns SUCCESS: the cost of a bare hypercall.
    pub const NULL: u32 = 0xC600_0003;
    /// STATS(x1 = target partition id, or [`SELF`]): x0 <- SUCCESS, x1..x8
    /// <- the target's counters since boot, in [`stats`] order: hypercalls
    /// (NULL, the bare-trap probe, is not counted), trapped GIC register
    /// accesses, SGIs sent, physical interrupts injected, stage-2 faults,
    /// checkpoint write faults, console bytes written, console bytes
    /// dropped. Errors as CHECKPOINT_STATUS's: DENIED (not the caller and
    /// not one it manages), INVALID_PARAMETERS (no such partition).
    pub const STATS: u32 = 0xC600_0004;
    /// CHECKPOINT_TAKE(x1 = target partition id, or [`SELF`]): pauses the
    /// target's vCPUs, saves its state and memory, resumes it. x0 <- SUCCESS
    /// and x1 <- the new generation; when the caller's own partition is later
    /// restored to this checkpoint, the same call returns again with x0 <-
    /// [`RESTORED`] (like `setjmp`). Errors: DENIED (target not the caller and
    /// not in its `manages`), INVALID_PARAMETERS (no such partition),
    /// NOT_SUPPORTED (target has no checkpoint policy), INTERNAL_FAILURE.
    pub const CHECKPOINT_TAKE: u32 = 0xC600_0010;
    /// CHECKPOINT_RESTORE(x1 = target or [`SELF`]): rolls the target back to
    /// its last checkpoint (restarts it from its image if it has none). On
    /// the caller itself it does not return: execution resumes in the
    /// CHECKPOINT_TAKE that made the checkpoint. A checkpoint that fails
    /// verification is refused: the target is stopped, never half-restored.
    pub const CHECKPOINT_RESTORE: u32 = 0xC600_0011;
    /// CHECKPOINT_STATUS(x1 = target or [`SELF`]): x0 <- SUCCESS, x1 <-
    /// generation of the current checkpoint (0: none), x2 <- checkpoints
    /// taken, x3 <- pages copied by the last one, x4 <- its pause in counter
    /// ticks, x5 <- counter value when it was taken.
    pub const CHECKPOINT_STATUS: u32 = 0xC600_0012;
    /// Test-only hook: CHECKPOINT_CORRUPT_FOR_TEST(x1 = target, x2 = IPA)
    /// flips a byte of the stored copy of that page in the current
    /// checkpoint, so tests can see restore refuse. Only allowed on a
    /// partition the caller manages.
    pub const CHECKPOINT_CORRUPT_FOR_TEST: u32 = 0xC600_00F0;
    /// CHANNEL_INFO(x1 = channel id, the `reg` of its layout node):
    /// x0 <- SUCCESS, x1 <- IPA where the caller sees the shared memory,
    /// x2 <- its size in bytes, x3 <- the caller's endpoint index,
    /// x4 <- number of endpoints (the caller included), x5 <- access
    /// ([`CHANNEL_READ_WRITE`] or [`CHANNEL_READ_ONLY`]), x6 <- the
    /// doorbell's INTID (an edge-triggered virtual SPI, also in the guest DT
    /// at `/chosen/bulkhead/channel@<id>`). Errors: INVALID_PARAMETERS (no
    /// such channel), DENIED (the caller is not one of its endpoints).
    pub const CHANNEL_INFO: u32 = 0xC600_0020;
    /// CHANNEL_NOTIFY(x1 = channel id, x2 = endpoint index of the peer, or
    /// [`ALL_PEERS`]): rings the doorbell of that peer (every other endpoint
    /// with ALL_PEERS). A doorbell still pending in a peer absorbs further
    /// rings: the peer takes one interrupt per acknowledgement. Errors:
    /// INVALID_PARAMETERS (no such channel or endpoint, or the caller's
    /// own), DENIED (the caller is not an endpoint).
    pub const CHANNEL_NOTIFY: u32 = 0xC600_0021;
    /// CHANNEL_NOTIFY's peer meaning every endpoint but the caller.
    pub const ALL_PEERS: u64 = u64::MAX;
    /// CHANNEL_INFO's access values.
    pub const CHANNEL_READ_WRITE: u64 = 0;
    pub const CHANNEL_READ_ONLY: u64 = 1;
    /// `x1` value naming the calling partition itself.
    pub const SELF: u64 = u64::MAX;
    /// CHECKPOINT_TAKE's x0 when execution resumes after a restore.
    pub const RESTORED: u64 = 1;

    /// Standard SMCCC service queries for the vendor hypervisor range.
    pub const CALL_COUNT: u32 = 0x8600_FF00;
    pub const CALL_UID: u32 = 0x8600_FF01;
    pub const REVISION: u32 = 0x8600_FF03;

    /// Most bytes one CONSOLE_WRITE copies; the caller loops for more.
    pub const CONSOLE_WRITE_MAX: u64 = 4096;
    /// Version reported by [`VERSION`] and [`REVISION`].
    pub const BULKHEAD_VERSION_MAJOR: u64 = 1;
    pub const BULKHEAD_VERSION_MINOR: u64 = 0;
    /// UID of the vendor service (a random UUID, as four 32-bit words).
    pub const UID: [u32; 4] = [0x6b75_6c62, 0x6568_6164, 0x9a3e_51c2, 0x0d4f_7e18];
    /// Number of vendor calls Bulkhead implements.
    pub const COUNT: u64 = 11;

    /// STATS's counters: their order (x1 is index 0) and names.
    pub mod stats {
        pub const HYPERCALLS: usize = 0;
        pub const GIC_TRAPS: usize = 1;
        pub const SGIS: usize = 2;
        pub const IRQS_INJECTED: usize = 3;
        pub const STAGE2_FAULTS: usize = 4;
        pub const WRITE_FAULTS: usize = 5;
        pub const CONSOLE_BYTES: usize = 6;
        pub const CONSOLE_DROPPED: usize = 7;
        /// Number of counters.
        pub const COUNT: usize = 8;
        /// Their names, as Bulkhead's stop line and the tools print them.
        pub const NAMES: [&str; COUNT] = [
            "hypercalls",
            "gic",
            "sgis",
            "irqs",
            "stage2_faults",
            "write_faults",
            "console_bytes",
            "console_dropped",
        ];
    }

    /// Whether `function_id` may be one of Bulkhead's vendor calls (either
    /// form): its low 16 bits name one, or a service query. On the hot path
    /// of every hypercall, so a bitmap rather than a list; a test checks
    /// it against the list.
    pub const fn is_assigned(function_id: u32) -> bool {
        if function_id & 0xBFFF_0000 != 0x8600_0000 {
            return false;
        }
        let low = function_id & 0xFFFF;
        if low >= 0xFF00 {
            return low <= 0xFF03;
        }
        low < 256 && ASSIGNED_LOW[(low >> 6) as usize] >> (low & 63) & 1 != 0
    }

    /// Bit n set: vendor call 0xC600_0000 + n exists (n < 256).
    const ASSIGNED_LOW: [u64; 4] = {
        let mut bits = [0u64; 4];
        let calls = [
            VERSION,
            PARTITION_INFO,
            CONSOLE_WRITE,
            NULL,
            STATS,
            CHECKPOINT_TAKE,
            CHECKPOINT_RESTORE,
            CHECKPOINT_STATUS,
            CHECKPOINT_CORRUPT_FOR_TEST,
            CHANNEL_INFO,
            CHANNEL_NOTIFY,
        ];
        let mut index = 0;
        while index < calls.len() {
            let low = calls[index] & 0xFF;
            bits[(low >> 6) as usize] |= 1 << (low & 63);
            index += 1;
        }
        bits
    };

    /// Maps the 32-bit form of a vendor ID onto its 64-bit form.
    pub const fn canonical(function_id: u32) -> u32 {
        if function_id & 0xFF00_0000 == 0x8600_0000 && function_id & 0xFFFF < 0xFF00 {
            function_id | 0x4000_0000
        } else {
            function_id
        }
    }
}

/// A channel endpoint as a PCI function for Linux guests: the register
/// layout of QEMU's ivshmem (revision 1), so that stock `uio_pci_generic`
/// binds it.
///
/// BAR0 (256 bytes, trapped): the registers below. BAR2: the shared memory,
/// mapped (64-bit, prefetchable). Legacy INTx pin A: asserted while
/// `INTR_STATUS & INTR_MASK != 0`, masked by Command bit 10, shown in
/// Status bit 3.
pub mod ivshmem {
    pub const VENDOR_ID: u16 = 0x1af4;
    pub const DEVICE_ID: u16 = 0x1110;
    pub const REVISION: u8 = 1;
    /// Class code: memory controller, "other" (as QEMU's ivshmem).
    pub const CLASS: u32 = 0x05_00_00;
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x1af4;
    pub const SUBSYSTEM_ID: u16 = 0x1100;
    /// BAR0 size in bytes.
    pub const REGISTERS_SIZE: u64 = 256;
    /// Read/write: which IntrStatus bits raise INTx (reset 0: none).
    pub const INTR_MASK: u64 = 0x00;
    /// Read clears: bit 0 is set by each doorbell rung at this endpoint.
    pub const INTR_STATUS: u64 = 0x04;
    /// Read-only: this endpoint's index in its channel.
    pub const IV_POSITION: u64 = 0x08;
    /// Write-only: `peer << 16 | vector` rings the doorbell of endpoint
    /// `peer` (vector must be 0); peer 0xFFFF rings every other endpoint.
    pub const DOORBELL: u64 = 0x0C;
    /// Bulkhead extension, read-only: the channel id (its layout `reg`).
    pub const CHANNEL_ID: u64 = 0x10;
    /// Bulkhead extension, read-only: number of endpoints.
    pub const ENDPOINTS: u64 = 0x14;
    /// Bulkhead extension, read-only: 1 if this endpoint may only read.
    pub const READ_ONLY: u64 = 0x18;
    /// Bulkhead extension, read-only: the channel label, NUL-padded.
    pub const LABEL: u64 = 0x20;
    pub const LABEL_SIZE: u64 = 32;
    /// DOORBELL's peer naming every other endpoint.
    pub const ALL_PEERS: u32 = 0xFFFF;
}

/// The control function a managing partition sees on its virtual PCI bus:
/// the partition table and a command interface (Linux's `bulkhead` tool).
///
/// Vendor 0x1af4 (as ivshmem: a paravirtual function), device 0x11bd.
/// BAR0 (4 KiB, trapped, little-endian): a header, then one
/// [`ENTRY_SIZE`]-byte entry per partition, every value read live.
/// Commands act exactly as the hypercalls: DENIED on a partition the
/// caller does not manage.
pub mod control {
    pub const VENDOR_ID: u16 = 0x1af4;
    pub const DEVICE_ID: u16 = 0x11bd;
    pub const REVISION: u8 = 1;
    /// Class code: system peripheral, "other".
    pub const CLASS: u32 = 0x08_80_00;
    pub const REGISTERS_SIZE: u64 = 4096;

    /// u32, reads [`MAGIC_VALUE`].
    pub const MAGIC: u64 = 0x00;
    pub const MAGIC_VALUE: u32 = 0x4448_4b42; // "BKHD", little-endian
    /// u32: Bulkhead version, major << 16 | minor.
    pub const VERSION: u64 = 0x04;
    /// u32: entries in the table.
    pub const PARTITION_COUNT: u64 = 0x08;
    /// u32: the caller's own partition id.
    pub const OWN_ID: u64 = 0x0C;
    /// u32, write: the partition a command acts on (layout id).
    pub const TARGET: u64 = 0x10;
    /// u32, write: starts a command ([`commands`]) on TARGET; it has run
    /// when the write returns.
    pub const COMMAND: u64 = 0x14;
    /// u32: result of the last command (an SMCCC code, 0 = success) as i32.
    pub const RESULT: u64 = 0x18;
    /// u32: commands completed so far (wraps).
    pub const SEQUENCE: u64 = 0x1C;
    /// u32, read clears: bit 0 set by each completed command.
    pub const INTR_STATUS: u64 = 0x20;
    /// u32: bit 0 lets completions raise INTx (reset 0).
    pub const INTR_MASK: u64 = 0x24;
    /// u64: the checkpoint generation a take produced.
    pub const RESULT_VALUE: u64 = 0x28;
    /// Offset of entry 0; entry n at TABLE + n * ENTRY_SIZE.
    pub const TABLE: u64 = 0x100;
    pub const ENTRY_SIZE: u64 = 128;
    /// Most entries that fit in BAR0.
    pub const MAX_ENTRIES: u64 = (REGISTERS_SIZE - TABLE) / ENTRY_SIZE;

    /// Commands written to [`COMMAND`].
    pub mod commands {
        pub const CHECKPOINT: u32 = 1;
        pub const RESTORE: u32 = 2;
        /// Reboot from the pristine image.
        pub const RESTART: u32 = 3;
        pub const STOP: u32 = 4;
        /// Boot a stopped or powered-off partition from its image.
        pub const START: u32 = 5;
    }

    /// Fields of one entry (offsets inside it).
    pub mod entry {
        /// u32: layout id.
        pub const ID: u64 = 0x00;
        /// u32: a [`super::states`] value.
        pub const STATE: u64 = 0x04;
        /// u32: vCPU count.
        pub const VCPUS: u64 = 0x08;
        /// u32: starts so far (first boot and every restart).
        pub const BOOT_COUNT: u64 = 0x0C;
        /// u64: RAM bytes.
        pub const MEMORY: u64 = 0x10;
        /// u64: faults reported (stage-2 aborts Bulkhead could not serve, those
        /// delivered to the guest as external aborts included; DMA faults).
        pub const FAULTS: u64 = 0x18;
        /// u64: current checkpoint generation (0: none).
        pub const CHECKPOINT_GENERATION: u64 = 0x20;
        /// u64: checkpoints taken.
        pub const CHECKPOINTS: u64 = 0x28;
        /// u64: pause of the last checkpoint, counter ticks.
        pub const CHECKPOINT_PAUSE: u64 = 0x30;
        /// u64 each: traps to Bulkhead by reason.
        pub const TRAPS_HYPERCALL: u64 = 0x38;
        pub const TRAPS_MMIO: u64 = 0x40;
        pub const TRAPS_SYSREG: u64 = 0x48;
        pub const TRAPS_IRQ: u64 = 0x50;
        pub const TRAPS_OTHER: u64 = 0x58;
        /// Label, NUL-padded.
        pub const LABEL: u64 = 0x60;
        pub const LABEL_SIZE: u64 = 32;
    }

    /// Partition states in the table.
    pub mod states {
        pub const RUNNING: u32 = 0;
        pub const RESETTING: u32 = 1;
        pub const OFF: u32 = 2;
        pub const STOPPED: u32 = 3;
        /// Names as `bulkhead ps` prints them, by state value.
        pub const NAMES: [&str; 4] = ["running", "resetting", "off", "stopped"];
    }
}

/// How Bulkhead's tools and test guests move data through a channel: a
/// convention in the shared memory, not a hypervisor interface.
///
/// Each endpoint `i` has a lane: a header at `i * LANE_HEADER` that only it
/// writes (except `ACK`, written by the receiver of its chunks) and a data
/// area. Values are little-endian u64. A transfer sends chunks: the
/// sender waits until `ACK == SEQUENCE`, writes the chunk, `LENGTH`,
/// `CHECKSUM`, then `SEQUENCE + 1` and rings the receiver; the receiver
/// checks the checksum, copies the chunk, writes `ACK = SEQUENCE` (in the
/// sender's lane) and rings back. A chunk of length 0 ends the stream.
/// After a finished transfer `ACK == SEQUENCE`, so the next starts cleanly.
pub mod transfer {
    /// Size of one lane header; lane i's header at i * LANE_HEADER.
    pub const LANE_HEADER: u64 = 64;
    /// Chunk number last published by the lane's sender.
    pub const SEQUENCE: u64 = 0x00;
    /// Bytes in the chunk (0: end of stream).
    pub const LENGTH: u64 = 0x08;
    /// [`checksum`] of the chunk.
    pub const CHECKSUM: u64 = 0x10;
    /// Written by the receiver: the last chunk number it consumed.
    pub const ACK: u64 = 0x18;
    /// Ping counter the lane's owner last sent.
    pub const PING: u64 = 0x20;
    /// The peer's last PING the lane's owner answered (the pinger waits
    /// until the peer's lane shows its own counter here).
    pub const PONG: u64 = 0x28;
    /// Start of the data areas: each of the first two lanes gets half of
    /// the memory after it.
    pub const DATA_OFFSET: u64 = 4096;

    /// Offset and size of lane `lane`'s data area in a channel of `size` bytes.
    pub const fn data_area(size: u64, lane: u64) -> (u64, u64) {
        let half = size.saturating_sub(DATA_OFFSET) / 2 / 8 * 8;
        (DATA_OFFSET + lane * half, half)
    }

    /// FNV-1a, 64-bit: the checksum of chunks and whole transfers.
    pub const fn checksum(seed: u64, bytes: &[u8]) -> u64 {
        let mut hash = seed;
        let mut index = 0;
        while index < bytes.len() {
            hash ^= bytes[index] as u64;
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            index += 1;
        }
        hash
    }

    /// The FNV-1a offset basis: the checksum of nothing.
    pub const CHECKSUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;
}

/// Function IDs whose owner field (bits 29:24) is `owner`.
pub const fn owner(function_id: u32) -> u32 {
    (function_id >> 24) & 0x3F
}

/// SMCCC owners Bulkhead serves.
pub mod owners {
    pub const ARCH: u32 = 0;
    pub const STANDARD_SECURE: u32 = 4;
    pub const VENDOR_HYPERVISOR: u32 = 6;
}

/// Whether Bulkhead may answer `function_id` with anything but
/// NOT_SUPPORTED: every Arm architecture call, the PSCI range and its own
/// vendor calls (either form). The rest (an unknown vendor ID, another
/// owner's range) is answered NOT_SUPPORTED without the dispatcher.
#[inline(always)]
pub const fn may_be_served(function_id: u32) -> bool {
    match owner(function_id) {
        owners::ARCH => true,
        owners::STANDARD_SECURE => function_id & 0xBFFF_FFE0 == 0x8400_0000,
        owners::VENDOR_HYPERVISOR => vendor::is_assigned(function_id),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_bulkhead_serves_is_routed_to_the_dispatcher() {
        let served = [
            arch::SMCCC_VERSION,
            arch::SMCCC_ARCH_FEATURES,
            arch::SMCCC_ARCH_WORKAROUND_1,
            arch::SMCCC_ARCH_WORKAROUND_2,
            arch::SMCCC_ARCH_WORKAROUND_3,
            psci::VERSION,
            psci::CPU_SUSPEND_32,
            psci::CPU_SUSPEND_64,
            psci::CPU_OFF,
            psci::CPU_ON_32,
            psci::CPU_ON_64,
            psci::AFFINITY_INFO_32,
            psci::AFFINITY_INFO_64,
            psci::MIGRATE_INFO_TYPE,
            psci::SYSTEM_OFF,
            psci::SYSTEM_RESET,
            psci::FEATURES,
            vendor::VERSION,
            vendor::PARTITION_INFO,
            vendor::CONSOLE_WRITE,
            vendor::NULL,
            vendor::STATS,
            vendor::CHECKPOINT_TAKE,
            vendor::CHECKPOINT_RESTORE,
            vendor::CHECKPOINT_STATUS,
            vendor::CHECKPOINT_CORRUPT_FOR_TEST,
            vendor::CHANNEL_INFO,
            vendor::CHANNEL_NOTIFY,
            vendor::CALL_COUNT,
            vendor::CALL_UID,
            vendor::REVISION,
        ];
        for id in served {
            assert!(may_be_served(id), "{id:#x}");
        }
        // The 32-bit forms of the vendor calls too.
        assert!(may_be_served(vendor::STATS & !0x4000_0000));
        let vendor_calls = served
            .iter()
            .filter(|&&id| owner(id) == owners::VENDOR_HYPERVISOR && id & 0xFFFF < 0xFF00)
            .count();
        assert_eq!(vendor_calls as u64, vendor::COUNT);
    }

    #[test]
    fn unknown_ids_are_not() {
        for id in [
            0xC600_00EE,
            0x8600_0005,
            0xC500_0000,
            0x8300_0000,
            0xC400_0020,
            0x0600_0000,
        ] {
            assert!(!may_be_served(id), "{id:#x}");
        }
    }
}
