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
    pub const COUNT: u64 = 8;

    /// Maps the 32-bit form of a vendor ID onto its 64-bit form.
    pub const fn canonical(function_id: u32) -> u32 {
        if function_id & 0xFF00_0000 == 0x8600_0000 && function_id & 0xFFFF < 0xFF00 {
            function_id | 0x4000_0000
        } else {
            function_id
        }
    }
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
