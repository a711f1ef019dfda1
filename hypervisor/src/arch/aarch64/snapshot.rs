//! A vCPU's complete architectural state, captured from and restored to the current core.
//!
//! Taken while the vCPU is trapped in EL2 on its own core: the trap frame
//! (x0..x30, PC, PSTATE), the EL1 system registers KVM saves, FP/SIMD, the
//! EL1 timers, the GIC virtual CPU interface and, on cores with pointer
//! authentication, its five keys (EL1 uses them untrapped: HCR_EL2.API/APK),
//! and on cores with SVE the whole Z/P/FFR file and ZCR_EL1, which live in
//! the vCPU's [`SveRegisters`] (too large to copy around with a snapshot).
//! The hypervisor is built soft-float, so the FP/SIMD registers still hold
//! the guest's values here. A snapshot records the features it was taken
//! with (and the vector length); one taken with others is refused.

use super::exception::GuestFrame;
use super::sve::{self, SveRegisters};
use super::sysreg::{isb, read_sysreg, write_sysreg};
use super::{gic, vgic_hw};
use bulkhead_core::pending_sgis::Taken;

/// Calls `$callback!` with the EL1 (and EL0 thread) system registers and the
/// EL1 timers, in snapshot order. The GIC virtual interface's state follows
/// them in the snapshot ([`INTERFACE_WORDS`], through the GIC seam: system
/// registers on a GICv3, GICH on a GICv2).
macro_rules! with_vcpu_registers {
    ($callback:ident $(, $argument:expr)?) => {
        $callback!(
            $($argument;)?
            "sp_el0", "sp_el1", "elr_el1", "spsr_el1", "sctlr_el1", "cpacr_el1", "ttbr0_el1",
            "ttbr1_el1", "tcr_el1", "esr_el1", "afsr0_el1", "afsr1_el1", "far_el1", "mair_el1",
            "amair_el1", "vbar_el1", "contextidr_el1", "cntkctl_el1", "par_el1", "tpidr_el0",
            "tpidrro_el0", "tpidr_el1", "mdscr_el1", "csselr_el1", "cntv_ctl_el0",
            "cntv_cval_el0", "cntp_ctl_el0", "cntp_cval_el0"
        )
    };
}

macro_rules! count_names { ($($name:literal),*) => { [$($name),*].len() }; }
macro_rules! read_names { ($($name:literal),*) => { [$(read_sysreg!($name)),*] }; }
macro_rules! write_names {
    ($values:expr; $($name:literal),*) => {{
        let mut index = 0;
        $(
            write_sysreg!($name, $values[index]);
            index += 1;
        )*
        let _ = index;
    }};
}

/// Calls `$callback!` with the pointer-authentication key registers
/// (APIA, APIB, APDA, APDB, APGA, each Lo then Hi), by encoding: they exist
/// only on cores with FEAT_PAuth.
macro_rules! with_pauth_keys {
    ($callback:ident $(, $argument:expr)?) => {
        $callback!(
            $($argument;)?
            "s3_0_c2_c1_0", "s3_0_c2_c1_1", "s3_0_c2_c1_2", "s3_0_c2_c1_3", "s3_0_c2_c2_0",
            "s3_0_c2_c2_1", "s3_0_c2_c2_2", "s3_0_c2_c2_3", "s3_0_c2_c3_0", "s3_0_c2_c3_1"
        )
    };
}

const EL1_REGISTER_COUNT: usize = with_vcpu_registers!(count_names);
/// The virtual CPU interface's words (GICv3: ICH_VMCR, ICH_AP0R0, ICH_AP1R0).
const INTERFACE_WORDS: usize = 3;
const SYSREG_COUNT: usize = EL1_REGISTER_COUNT + INTERFACE_WORDS;
const PAUTH_KEY_WORDS: usize = with_pauth_keys!(count_names);
const FRAME_WORDS: usize = 33;
const FP_WORDS: usize = 64 + 2;
const MAX_LIST_REGISTERS: usize = 16;
/// Words in a serialized snapshot before its optional SVE part.
const BASE_WORDS: usize =
    FRAME_WORDS + SYSREG_COUNT + FP_WORDS + MAX_LIST_REGISTERS + 2 + 1 + PAUTH_KEY_WORDS;
/// Bytes in the largest serialized snapshot: ZCR_EL1 and the SVE registers
/// at the largest vector length follow the words.
pub const SNAPSHOT_BYTES: usize = BASE_WORDS * 8 + 8 + sve::MAX_STATE_BYTES;

/// Bits of [`VcpuSnapshot::features`]: the optional state it holds.
const FEATURE_PAUTH: u64 = 1 << 0;
const FEATURE_SVE: u64 = 1 << 1;
/// Where the SVE vector length (bytes) is kept in the features word, so
/// that a snapshot from another length is refused like another feature.
const VECTOR_BYTES_SHIFT: u32 = 16;

/// The optional vCPU state this core has (the same on every core).
fn features() -> u64 {
    // ID_AA64ISAR1_EL1 APA [7:4], API [11:8], GPA [27:24], GPI [31:28];
    // ID_AA64ISAR2_EL1 (RAZ where not implemented) GPA3 [11:8], APA3 [15:12].
    let isar1 = read_sysreg!("id_aa64isar1_el1");
    let isar2 = read_sysreg!("s3_0_c0_c6_2");
    let pauth = isar1 & 0xff00_0ff0 != 0 || isar2 & 0xff00 != 0;
    let mut features = if pauth { FEATURE_PAUTH } else { 0 };
    if let Some(bytes) = sve::vector_bytes() {
        features |= FEATURE_SVE | (bytes as u64) << VECTOR_BYTES_SHIFT;
    }
    features
}

/// The SVE vector length (bytes) a features word records, if SVE is in it.
fn sve_vector_bytes(features: u64) -> Option<usize> {
    (features & FEATURE_SVE != 0).then_some((features >> VECTOR_BYTES_SHIFT & 0xffff) as usize)
}

#[derive(Clone, Debug)]
pub struct VcpuSnapshot {
    pub frame: GuestFrame,
    sysregs: [u64; SYSREG_COUNT],
    /// q0..q31 as (low, high) pairs, then FPSR and FPCR.
    fp: [u64; FP_WORDS],
    list_registers: [u64; MAX_LIST_REGISTERS],
    /// Virtual SGIs waiting for a list register, with their sources.
    pub pending_sgis: Taken,
    /// The optional state below that this snapshot holds (`FEATURE_*`).
    features: u64,
    /// Pointer-authentication keys (zero without FEAT_PAuth).
    pauth_keys: [u64; PAUTH_KEY_WORDS],
}

impl VcpuSnapshot {
    /// Reads this core's live vCPU state; `frame` is its trap frame. The
    /// SVE registers, if the core has them, go to the vCPU's `sve`.
    pub fn capture(
        frame: &GuestFrame,
        pending_sgis: Taken,
        sve: &mut SveRegisters,
    ) -> VcpuSnapshot {
        let mut fp = [0u64; FP_WORDS];
        // SAFETY: stores the 32 SIMD registers and FPSR/FPCR into `fp`,
        // which has room for exactly 64 + 2 words; nothing else is touched.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "stp q0, q1, [{b}, #0]", "stp q2, q3, [{b}, #32]", "stp q4, q5, [{b}, #64]",
                "stp q6, q7, [{b}, #96]", "stp q8, q9, [{b}, #128]", "stp q10, q11, [{b}, #160]",
                "stp q12, q13, [{b}, #192]", "stp q14, q15, [{b}, #224]", "stp q16, q17, [{b}, #256]",
                "stp q18, q19, [{b}, #288]", "stp q20, q21, [{b}, #320]", "stp q22, q23, [{b}, #352]",
                "stp q24, q25, [{b}, #384]", "stp q26, q27, [{b}, #416]", "stp q28, q29, [{b}, #448]",
                "stp q30, q31, [{b}, #480]",
                "mrs {t}, fpsr", "str {t}, [{b}, #512]",
                "mrs {t}, fpcr", "str {t}, [{b}, #520]",
                b = in(reg) fp.as_mut_ptr(),
                t = out(reg) _,
                options(nostack),
            )
        };
        let mut list_registers = [0u64; MAX_LIST_REGISTERS];
        for (index, slot) in list_registers
            .iter_mut()
            .enumerate()
            .take(vgic_hw::list_register_count())
        {
            *slot = vgic_hw::read_list_register(index);
        }
        let features = features();
        if let Some(bytes) = sve_vector_bytes(features) {
            sve.capture(bytes);
        }
        let pauth_keys = if features & FEATURE_PAUTH != 0 {
            with_pauth_keys!(read_names)
        } else {
            [0; PAUTH_KEY_WORDS]
        };
        VcpuSnapshot {
            frame: frame.clone(),
            sysregs: {
                let mut sysregs = [0; SYSREG_COUNT];
                let (el1, interface) = sysregs.split_at_mut(EL1_REGISTER_COUNT);
                el1.copy_from_slice(&with_vcpu_registers!(read_names));
                interface.copy_from_slice(&gic::virtual_interface().save_state());
                sysregs
            },
            fp,
            list_registers,
            pending_sgis,
            features,
            pauth_keys,
        }
    }

    /// Loads the snapshot (and the vCPU's `sve` registers captured or read
    /// with it) into this core's registers and `frame`.
    pub fn apply(&self, frame: &mut GuestFrame, sve: &SveRegisters) {
        *frame = self.frame.clone();
        with_vcpu_registers!(write_names, self.sysregs[..EL1_REGISTER_COUNT]);
        let mut interface = [0; INTERFACE_WORDS];
        interface.copy_from_slice(&self.sysregs[EL1_REGISTER_COUNT..]);
        gic::virtual_interface().restore_state(interface);
        // Same features as this core: `from_bytes` refuses others.
        if self.features & FEATURE_PAUTH != 0 {
            with_pauth_keys!(write_names, self.pauth_keys);
        }
        // SAFETY: loads the 32 SIMD registers and FPSR/FPCR from `fp`; the
        // hypervisor is soft-float, so no compiled code relies on them.
        unsafe {
            core::arch::asm!(
                ".arch_extension fp",
                ".arch_extension simd",
                "ldp q0, q1, [{b}, #0]", "ldp q2, q3, [{b}, #32]", "ldp q4, q5, [{b}, #64]",
                "ldp q6, q7, [{b}, #96]", "ldp q8, q9, [{b}, #128]", "ldp q10, q11, [{b}, #160]",
                "ldp q12, q13, [{b}, #192]", "ldp q14, q15, [{b}, #224]", "ldp q16, q17, [{b}, #256]",
                "ldp q18, q19, [{b}, #288]", "ldp q20, q21, [{b}, #320]", "ldp q22, q23, [{b}, #352]",
                "ldp q24, q25, [{b}, #384]", "ldp q26, q27, [{b}, #416]", "ldp q28, q29, [{b}, #448]",
                "ldp q30, q31, [{b}, #480]",
                "ldr {t}, [{b}, #512]", "msr fpsr, {t}",
                "ldr {t}, [{b}, #520]", "msr fpcr, {t}",
                b = in(reg) self.fp.as_ptr(),
                t = out(reg) _,
                options(nostack),
            )
        };
        // After the Q registers, whose loads zero the Z registers' upper bits.
        if let Some(bytes) = sve_vector_bytes(self.features) {
            sve.apply(bytes);
        }
        vgic_hw::clear_list_registers();
        for (index, &value) in self
            .list_registers
            .iter()
            .enumerate()
            .take(vgic_hw::list_register_count())
        {
            vgic_hw::write_list_register(index, value);
        }
        isb();
    }

    /// Hardware interrupts the snapshot's list registers hold (pending or active).
    pub fn hardware_interrupts(&self) -> impl Iterator<Item = u32> + '_ {
        self.list_registers
            .iter()
            .filter_map(|&lr| vgic_hw::hardware_intid(lr))
    }

    /// Serializes the snapshot and the vCPU's `sve` registers into `out`
    /// ([`SNAPSHOT_BYTES`] always suffice; a shorter `out` gets what fits);
    /// returns the length written. No allocation.
    pub fn write_bytes(&self, sve: &SveRegisters, out: &mut [u8]) -> usize {
        let return_state = [self.frame.elr, self.frame.spsr];
        let parts: [&[u64]; 8] = [
            &self.frame.x,
            &return_state,
            &self.sysregs,
            &self.fp,
            &self.list_registers,
            &self.pending_sgis.0,
            core::slice::from_ref(&self.features),
            &self.pauth_keys,
        ];
        // Word stores where `out` is aligned (the store's vCPU areas are):
        // the EL2 target's strict alignment makes byte arrays byte stores.
        // A loop per part: one chained iterator cost ~13 instructions a word.
        let whole = out.len() / 8 * 8;
        match bytemuck::try_cast_slice_mut::<u8, u64>(&mut out[..whole]) {
            Ok(out_words) => {
                let mut slots = out_words.iter_mut();
                for part in parts {
                    // The part first: zip stops on it without taking a slot.
                    for (word, slot) in part.iter().zip(slots.by_ref()) {
                        *slot = word.to_le();
                    }
                }
            }
            Err(_) => write_words_unaligned(out, parts.into_iter().flatten()),
        }
        let mut length = (BASE_WORDS * 8).min(out.len());
        if let Some(bytes) = sve_vector_bytes(self.features) {
            let state = &sve.state[..sve::state_bytes(bytes).min(sve::MAX_STATE_BYTES)];
            let zcr = sve.zcr_el1.to_le_bytes();
            for part in [&zcr[..], state] {
                let end = (length + part.len()).min(out.len());
                out[length..end].copy_from_slice(&part[..end - length]);
                length = end;
            }
        }
        length
    }

    /// A serialized snapshot, if it is whole and was taken with this core's
    /// features (a checkpoint from a core without pointer authentication,
    /// say, cannot give a guest the keys it uses). Its SVE registers go to
    /// `sve` if given (and only if it parses).
    pub fn from_bytes(bytes: &[u8], sve: Option<&mut SveRegisters>) -> Option<VcpuSnapshot> {
        if bytes.len() < BASE_WORDS * 8 {
            return None;
        }
        // Word loads where `bytes` is aligned (see `write_bytes`).
        let whole = bytes.len() / 8 * 8;
        let aligned = bytemuck::try_cast_slice::<u8, u64>(&bytes[..whole]).ok();
        let mut next = 0;
        let mut take = || {
            let word = match aligned {
                Some(words) => words.get(next).map_or(0, |&word| u64::from_le(word)),
                None => read_word_unaligned(bytes, next),
            };
            next += 1;
            word
        };
        let mut frame = GuestFrame::default();
        for register in frame.x.iter_mut() {
            *register = take();
        }
        frame.elr = take();
        frame.spsr = take();
        let mut sysregs = [0; SYSREG_COUNT];
        sysregs.iter_mut().for_each(|word| *word = take());
        let mut fp = [0; FP_WORDS];
        fp.iter_mut().for_each(|word| *word = take());
        let mut list_registers = [0; MAX_LIST_REGISTERS];
        list_registers.iter_mut().for_each(|word| *word = take());
        let pending_sgis = Taken([take(), take()]);
        let features = take();
        if features != self::features() {
            return None;
        }
        let mut pauth_keys = [0; PAUTH_KEY_WORDS];
        pauth_keys.iter_mut().for_each(|word| *word = take());
        if let Some(vector_bytes) = sve_vector_bytes(features) {
            let state_bytes = sve::state_bytes(vector_bytes);
            if vector_bytes > sve::MAX_VECTOR_BYTES
                || bytes.len() < BASE_WORDS * 8 + 8 + state_bytes
            {
                return None;
            }
            if let Some(sve) = sve {
                let tail = &bytes[BASE_WORDS * 8..];
                let mut zcr = [0; 8];
                zcr.copy_from_slice(&tail[..8]);
                sve.zcr_el1 = u64::from_le_bytes(zcr);
                sve.state[..state_bytes].copy_from_slice(&tail[8..8 + state_bytes]);
            }
        }
        Some(VcpuSnapshot {
            frame,
            sysregs,
            fp,
            list_registers,
            pending_sgis,
            features,
            pauth_keys,
        })
    }
}

/// [`VcpuSnapshot::write_bytes`]'s words into an unaligned `out`, a byte at a time.
#[cold]
#[inline(never)]
fn write_words_unaligned<'a>(out: &mut [u8], words: impl Iterator<Item = &'a u64>) {
    for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
}

/// Word `index` of an unaligned serialized snapshot (0 past its end).
#[cold]
#[inline(never)]
fn read_word_unaligned(bytes: &[u8], index: usize) -> u64 {
    index
        .checked_mul(8)
        .and_then(|start| bytes.get(start..start.checked_add(8)?))
        .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
        .map_or(0, u64::from_le_bytes)
}
