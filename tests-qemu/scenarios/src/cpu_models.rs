//! Which CPU models each scenario and benchmark boots on (QEMU `-cpu`).
//!
//! Everything runs on cortex-a72 (ARMv8.0: no SVE, PAuth, MTE or SME)
//! unless listed here. The Linux boot, the checkpoint scenarios and each
//! CPU-feature scenario also run on `neoverse-v1` (an HPC core: SVE 256-bit,
//! PAuth) and on QEMU's `max` (SVE 2048-bit, SVE2, PAuth, MTE with the
//! machine's tag memory, SME, …); the rest gains little from a second model
//! and stays within CI's budget on one.

/// A QEMU CPU model the scenarios boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuModel {
    CortexA72,
    NeoverseV1,
    Max,
}

impl CpuModel {
    /// QEMU's name for it (`-cpu`).
    pub const fn name(self) -> &'static str {
        match self {
            CpuModel::CortexA72 => "cortex-a72",
            CpuModel::NeoverseV1 => "neoverse-v1",
            CpuModel::Max => "max",
        }
    }

    pub fn from_name(name: &str) -> Option<CpuModel> {
        ALL.into_iter().find(|model| model.name() == name)
    }
}

/// Every model, the default first.
pub const ALL: [CpuModel; 3] = [CpuModel::CortexA72, CpuModel::NeoverseV1, CpuModel::Max];
const EVERY: &[CpuModel] = &ALL;
const WITH_SVE: &[CpuModel] = &[CpuModel::NeoverseV1, CpuModel::Max];
const DEFAULT: &[CpuModel] = &[CpuModel::CortexA72];

/// The scenarios and benchmarks that boot on other models than the default.
const MATRIX: &[(&str, &[CpuModel])] = &[
    ("linux_boot", EVERY),
    ("ckpt_linux", EVERY),
    ("ckpt_rollback", EVERY),
    ("ckpt_incremental", EVERY),
    ("ckpt_periodic", EVERY),
    ("ckpt_on_fault_restore", EVERY),
    ("ckpt_permissions", EVERY),
    ("cpu_features", EVERY),
    ("ckpt_pauth", WITH_SVE),
    ("ckpt_sve", WITH_SVE),
    ("ckpt_sve_linux", WITH_SVE),
    // Measured on max, compared with the same boot on cortex-a72.
    ("ckpt_sve_state", &[CpuModel::Max, CpuModel::CortexA72]),
    ("abort_delivery", EVERY),
    ("race_psci_on_same_target", EVERY),
];

/// The models `name` boots on, the first being the one `cargo xtask bench`
/// and `cargo xtask run --scenario` use.
pub fn cpu_models(name: &str) -> &'static [CpuModel] {
    MATRIX
        .iter()
        .find(|(listed, _)| *listed == name)
        .map_or(DEFAULT, |(_, models)| models)
}

/// The name of one run of scenario `name`: plain on cortex-a72,
/// `name@model` on the others (its output directory too).
pub fn run_name(name: &str, model: CpuModel) -> String {
    if model == CpuModel::CortexA72 {
        name.to_string()
    } else {
        format!("{name}@{}", model.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_runs_are_named_by_model() {
        for model in ALL {
            assert_eq!(CpuModel::from_name(model.name()), Some(model));
        }
        assert_eq!(run_name("ckpt_linux", CpuModel::CortexA72), "ckpt_linux");
        assert_eq!(run_name("ckpt_linux", CpuModel::Max), "ckpt_linux@max");
        assert_eq!(cpu_models("isolation"), DEFAULT);
        assert_eq!(cpu_models("ckpt_sve"), WITH_SVE);
    }

    #[test]
    fn every_matrix_entry_names_a_scenario_or_benchmark() {
        let scenarios = crate::all();
        let benchmarks = crate::benchmarks();
        for (name, _) in MATRIX {
            assert!(
                scenarios.iter().any(|s| s.name == *name)
                    || benchmarks.iter().any(|b| b.name == *name),
                "{name} is in the CPU matrix but is neither a scenario nor a benchmark"
            );
        }
    }
}
