//! The `ifru bench` / `ifru demo` report as types: written as JSON, read back by the plots,
//! printed as the summary table and the demo's story, with one type per entry.
//!
//! A method's figures are typed where a consumer reads them (AUCs, ranks, recall, seconds,
//! the solver's residual, the forgetting check); every other field a run reports (solver
//! and pruning figures, step length, options) is kept as it was written, in `more`.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use ifru::data::synthetic::SyntheticConfig;
use ifru::model::{LossKind, ModelKind, ModelSpec};
use ifru::unlearn::MethodId;

use crate::harness::bench::BenchRun;

/// The `schema` of unlearning reports (`ifru unlearn --report`, `ifru bench`, `ifru demo`):
/// 2 since `ifru` names the default step (length fitted per request) and reports carry
/// `forgetting_check`.
pub const UNLEARNING_REPORT_SCHEMA: u32 = 2;

/// The adapter fields every report carries.
pub use ifru::gpu::AdapterRecord as ReportAdapter;

/// An entry of a bench report: the original model, a method, or one δ of a damping sweep.
/// Written as its report name (`original`, `ifru_fixed`, `ifru_delta_0.5`, ...); listed
/// with the references first (`original`, `retrain`), then by name.
#[derive(Debug, Clone, Copy)]
pub enum Entry {
    Original,
    Method(MethodId),
    /// The default method at a fixed damping δ (`--damping-sweep`).
    DampingSweep(f32),
}

impl Entry {
    /// One of the references every other entry is compared with.
    pub fn is_reference(self) -> bool {
        matches!(self, Entry::Original | Entry::Method(MethodId::Retrain))
    }

    fn rank(self) -> u8 {
        match self {
            Entry::Original => 0,
            Entry::Method(MethodId::Retrain) => 1,
            _ => 2,
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entry::Original => f.write_str("original"),
            Entry::Method(m) => f.write_str(m.report_name()),
            Entry::DampingSweep(delta) => write!(f, "ifru_delta_{delta}"),
        }
    }
}

impl FromStr for Entry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "original" {
            return Ok(Entry::Original);
        }
        if let Some(m) = MethodId::ALL.iter().find(|m| m.report_name() == s) {
            return Ok(Entry::Method(*m));
        }
        s.strip_prefix("ifru_delta_")
            .and_then(|d| d.parse::<f32>().ok())
            .map(Entry::DampingSweep)
            .ok_or_else(|| format!("{s:?} is not a method of a bench report"))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.rank(), self.to_string()).cmp(&(other.rank(), other.to_string()))
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A field that a report writes as `null` when it does not apply and leaves out when it was
/// never measured: `None` absent, `Some(None)` null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The verdict of a run's forgetting check (the whole check is in `more`-like detail in the
/// report; the table needs whether it passed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckVerdict {
    pub passed: Option<bool>,
    #[serde(flatten)]
    pub more: BTreeMap<String, serde_json::Value>,
}

/// One entry's figures: one run's as measured, or means over seeds (numeric fields only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodFigures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_auc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_auc: Option<f64>,
    /// The forget AUC over the second half of the forget rows (never used for fitting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_auc_b: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_rank: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget_rank_b: Option<f64>,
    #[serde(rename = "recall@20", default, skip_serializing_if = "Option::is_none")]
    pub recall_20: Option<f64>,
    /// The method's own time (training time for `original`).
    pub seconds: f64,
    /// ‖r‖/‖g‖ at the end of a conjugate-gradient solve; `null` for a solver that is not CG
    /// (the authors' Adam solver, whose `residual_trace` holds validation AUCs instead).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub residual: Option<Option<f64>>,
    /// `(iteration, ‖r‖/‖g‖)` as the solver read it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual_trace: Option<Vec<(usize, f64)>>,
    /// One run's forgetting check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgetting_check: Option<CheckVerdict>,
    /// Over several seeds: the share of runs whose check passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgetting_check_passed: Option<f64>,
    /// Every other field, as the run wrote it.
    #[serde(flatten)]
    pub more: BTreeMap<String, serde_json::Value>,
}

impl MethodFigures {
    /// The quality statistic: test AUC (BCE) or recall@20 (BPR).
    pub fn quality(&self, loss: LossKind) -> Option<f64> {
        match loss {
            LossKind::Bce => self.test_auc,
            LossKind::Bpr => self.recall_20,
        }
    }

    /// The forget statistic over all forget rows: forget AUC (BCE) or forget rank (BPR).
    pub fn forget(&self, loss: LossKind) -> Option<f64> {
        match loss {
            LossKind::Bce => self.forget_auc,
            LossKind::Bpr => self.forget_rank,
        }
    }

    /// The forget statistic over the second half of the forget rows.
    pub fn forget_b(&self, loss: LossKind) -> Option<f64> {
        match loss {
            LossKind::Bce => self.forget_auc_b,
            LossKind::Bpr => self.forget_rank_b,
        }
    }

    /// The CG residual trace, when there is one worth drawing.
    pub fn cg_trace(&self) -> Option<&[(usize, f64)]> {
        match (self.residual, &self.residual_trace) {
            (Some(Some(r)), Some(trace)) if r.is_finite() && !trace.is_empty() => Some(trace),
            _ => None,
        }
    }

    /// Passed, failed, or the share of seeds that passed.
    pub fn check_text(&self) -> String {
        match (
            self.forgetting_check.as_ref().and_then(|c| c.passed),
            self.forgetting_check_passed,
        ) {
            (Some(true), _) => "pass".into(),
            (Some(false), _) => "FAIL".into(),
            (None, Some(share)) => format!("{:.0}%", 100.0 * share),
            _ => "-".into(),
        }
    }
}

/// One seed's run, as the report keeps it when there are several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFigures {
    pub seed: u64,
    pub train_rows: usize,
    pub forget_rows: usize,
    pub methods: BTreeMap<Entry, MethodFigures>,
}

impl RunFigures {
    /// Through text, as the run would be written: `to_value` would widen its f32 figures
    /// (0.017613465 would become 0.01761346496641636).
    fn of(run: &BenchRun) -> Result<Self, serde_json::Error> {
        serde_json::from_str(&serde_json::to_string(run)?)
    }
}

/// The fields every `ifru bench` report starts with: the schema and the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    pub schema: u32,
    pub model: ModelKind,
    pub layers: u32,
    pub dim: u32,
    pub loss: LossKind,
}

impl ModelHeader {
    pub fn of(spec: ModelSpec) -> Self {
        ModelHeader {
            schema: UNLEARNING_REPORT_SCHEMA,
            model: spec.kind,
            layers: spec.layers,
            dim: spec.dim,
            loss: spec.loss,
        }
    }
}

/// The report of `ifru bench` (schema [`UNLEARNING_REPORT_SCHEMA`]), also written by `ifru
/// demo`: one run's figures as they are, several runs' as means with standard deviations
/// and the runs themselves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    #[serde(flatten)]
    pub header: ModelHeader,
    pub dataset: PathBuf,
    pub train_rows: usize,
    pub forget_rows: usize,
    pub seeds: Vec<u64>,
    pub adapter: ReportAdapter,
    pub methods: BTreeMap<Entry, MethodFigures>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods_std: Option<BTreeMap<Entry, BTreeMap<String, f64>>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunFigures>,
    /// Each seed's original model's own step length for small requests, as `ifru train`
    /// fits it (docs/DAMPING.md, "Small requests"), in the order of `seeds`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub model_lengths: Vec<crate::harness::bench::ModelLengthFit>,
    /// The generator's settings, when the data is the built-in synthetic data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SyntheticConfig>,
}

impl BenchReport {
    /// The report of `runs` (one per seed) of `spec` on `dataset` (`train_rows` training
    /// rows), forgetting `forget_rows` rows.
    pub fn new(
        dataset: PathBuf,
        spec: ModelSpec,
        train_rows: usize,
        forget_rows: usize,
        adapter: ReportAdapter,
        runs: &[BenchRun],
    ) -> Result<Self, serde_json::Error> {
        let model_lengths = runs.iter().map(|r| r.model_length.clone()).collect();
        let runs = runs
            .iter()
            .map(RunFigures::of)
            .collect::<Result<Vec<_>, _>>()?;
        let single = runs.len() == 1;
        let (methods, methods_std) = match runs.first() {
            Some(run) if single => (run.methods.clone(), None),
            _ => {
                let (means, stds) = aggregate(&runs)?;
                (means, Some(stds))
            }
        };
        Ok(BenchReport {
            header: ModelHeader::of(spec),
            dataset,
            train_rows,
            forget_rows,
            seeds: runs.iter().map(|r| r.seed).collect(),
            adapter,
            methods,
            methods_std,
            model_lengths,
            runs: if single { Vec::new() } else { runs },
            synthetic: None,
        })
    }

    /// The report's loss (which statistics its methods carry).
    pub fn loss(&self) -> LossKind {
        self.header.loss
    }
}

/// Each entry's figures.
type Figures = BTreeMap<Entry, MethodFigures>;
/// Each entry's standard deviations over seeds, by field.
type Spreads = BTreeMap<Entry, BTreeMap<String, f64>>;

/// Means and standard deviations over runs of every numeric field of every entry (an entry
/// missing from a run, or a field missing from one, is left out), and the share of runs whose
/// forgetting check passed.
fn aggregate(runs: &[RunFigures]) -> Result<(Figures, Spreads), serde_json::Error> {
    let (mut means, mut stds) = (BTreeMap::new(), BTreeMap::new());
    let Some(first) = runs.first() else {
        return Ok((means, stds));
    };
    for entry in first.methods.keys() {
        let values = runs
            .iter()
            .filter_map(|r| r.methods.get(entry))
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        let (mut mean_m, mut std_m) = (serde_json::Map::new(), BTreeMap::new());
        if let Some(serde_json::Value::Object(fields)) = values.first() {
            for key in fields.keys() {
                let xs: Vec<f64> = values.iter().filter_map(|v| v[key].as_f64()).collect();
                if xs.len() != values.len() || xs.is_empty() {
                    continue;
                }
                let n = xs.len() as f64;
                let mean = xs.iter().sum::<f64>() / n;
                let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
                mean_m.insert(key.clone(), mean.into());
                std_m.insert(key.clone(), var.sqrt());
            }
        }
        let passed: Vec<bool> = runs
            .iter()
            .filter_map(|r| r.methods.get(entry))
            .filter_map(|m| m.forgetting_check.as_ref().and_then(|c| c.passed))
            .collect();
        if !passed.is_empty() {
            let share = passed.iter().filter(|&&p| p).count() as f64 / passed.len() as f64;
            mean_m.insert("forgetting_check_passed".into(), share.into());
        }
        means.insert(*entry, serde_json::from_value(mean_m.into())?);
        stds.insert(*entry, std_m);
    }
    Ok((means, stds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_list_references_first() {
        let names = [
            "ifru_fixed",
            "retrain",
            "ifru_delta_0.5",
            "original",
            "ifru",
            "finetune",
        ];
        let mut entries: Vec<Entry> = names.iter().map(|n| n.parse().unwrap()).collect();
        entries.sort();
        let listed: Vec<String> = entries.iter().map(Entry::to_string).collect();
        assert_eq!(
            listed,
            [
                "original",
                "retrain",
                "finetune",
                "ifru",
                "ifru_delta_0.5",
                "ifru_fixed"
            ]
        );
        assert!("ifru-fixed".parse::<Entry>().is_err());
    }

    #[test]
    fn figures_keep_every_field_and_null_residuals() {
        let text = r#"{"test_auc":0.7,"seconds":1.5,"residual":null,"iterations":12,
            "forgetting_check":{"passed":true,"value":0.3}}"#;
        let m: MethodFigures = serde_json::from_str(text).unwrap();
        assert_eq!(m.residual, Some(None));
        assert_eq!(m.more["iterations"], 12);
        assert_eq!(m.check_text(), "pass");
        let back: serde_json::Value = serde_json::to_value(&m).unwrap();
        let original: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, original);
    }
}
