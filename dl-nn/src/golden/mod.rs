//! Golden-vector runner: checks ops, layers, losses and optimizers against
//! reference vectors computed with PyTorch.
//!
//! A golden directory holds `manifest.json` and one safetensors file per
//! case (the format of `tests/golden/README.md`). [`run_dir`] runs every
//! case; each case is dispatched on its `kind` to the same shape-agnostic
//! functions (runtime dimensions, flat buffers) that the typed layers call,
//! so nothing here depends on the shapes of a particular set.
//!
//! ```no_run
//! let report = dl_nn::golden::run_dir(std::path::Path::new("tests/golden")).unwrap();
//! println!("{} passed, {} failed", report.passed(), report.failed());
//! ```

mod attention;
mod elementwise;
mod linear;
mod loss_optim;
mod quant;
mod sequence;
mod spatial;
mod train_step;

pub use train_step::run_on as run_train_step_on;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A tensor of a case, converted to `f64` (labels too), with its shape.
#[derive(Clone, Debug)]
pub struct GTensor {
    /// Shape (`[]` for scalars).
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f64>,
}

impl GTensor {
    /// Values as `f32`.
    pub fn f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
    /// Values as class indices.
    pub fn indices(&self) -> Vec<usize> {
        self.data.iter().map(|&v| v as usize).collect()
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// One loaded case.
#[derive(Clone, Debug)]
pub struct Case {
    /// Case name.
    pub name: String,
    /// Case kind (what to run).
    pub kind: String,
    /// Element type of the case (`F32` or `F64`).
    pub dtype: String,
    /// Hyperparameters.
    pub params: Value,
    /// Tensors by name.
    pub tensors: BTreeMap<String, GTensor>,
    /// Names of the expected tensors.
    pub expected: Vec<String>,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Case {
    /// A tensor by name, or an error naming it.
    pub fn t(&self, name: &str) -> Result<&GTensor, String> {
        self.tensors
            .get(name)
            .ok_or_else(|| format!("case `{}` has no tensor `{name}`", self.name))
    }
    /// The hyperparameter `key` read by `read`, or an error saying that no
    /// `what` of that name is there.
    fn param<'a, T>(&'a self, key: &str, what: &str, read: impl FnOnce(&'a Value) -> Option<T>) -> Result<T, String> {
        self.params
            .get(key)
            .and_then(read)
            .ok_or_else(|| format!("case `{}`: missing {what} `{key}`", self.name))
    }
    /// A numeric hyperparameter.
    pub fn p_f64(&self, key: &str) -> Result<f64, String> {
        self.param(key, "number", Value::as_f64)
    }
    /// An integer hyperparameter.
    pub fn p_usize(&self, key: &str) -> Result<usize, String> {
        self.param(key, "integer", |v| v.as_u64().map(|v| v as usize))
    }
    /// A boolean hyperparameter.
    pub fn p_bool(&self, key: &str) -> Result<bool, String> {
        self.param(key, "bool", Value::as_bool)
    }
    /// A string hyperparameter.
    pub fn p_str(&self, key: &str) -> Result<&str, String> {
        self.param(key, "string", Value::as_str)
    }
    /// Compares `actual` with the expected tensor `name` under the case's
    /// tolerance (`|a - e| <= atol + rtol |e|`).
    pub fn compare(&self, name: &str, actual: &[f64]) -> Result<(), String> {
        let e = self.t(name)?;
        if e.data.len() != actual.len() {
            return Err(format!("{name}: {} values, expected {}", actual.len(), e.data.len()));
        }
        for (i, (&a, &x)) in actual.iter().zip(&e.data).enumerate() {
            let within = (a - x).abs() <= self.atol + self.rtol * x.abs();
            if !within {
                return Err(format!("{name}[{i}]: got {a}, expected {x}"));
            }
        }
        Ok(())
    }
    /// Like [`Case::compare`] for `f32` results.
    pub fn compare32(&self, name: &str, actual: &[f32]) -> Result<(), String> {
        self.compare(name, &actual.iter().map(|&v| v as f64).collect::<Vec<_>>())
    }
    /// The case's expected tensors, an error when it lists none.
    pub fn expected_names(&self) -> Result<&[String], String> {
        if self.expected.is_empty() {
            return Err(format!("case `{}` lists no expected tensor", self.name));
        }
        Ok(&self.expected)
    }
    /// Compares every expected tensor of the case with the produced one of
    /// the same name; an expected tensor the runner did not produce is an
    /// error.
    pub fn compare_all<N: AsRef<str>>(&self, results: &[(N, Vec<f32>)]) -> Result<(), String> {
        for name in self.expected_names()? {
            let (_, v) = results
                .iter()
                .find(|(n, _)| n.as_ref() == name)
                .ok_or_else(|| format!("expected tensor `{name}` is not produced for kind `{}`", self.kind))?;
            self.compare32(name, v)?;
        }
        Ok(())
    }
}

/// An error naming `what` unless a buffer holds the `expected` number of
/// elements: the runner's check before it calls a kernel with dimensions
/// read from a case.
pub(crate) fn expect_len(what: &str, got: usize, expected: usize) -> Result<(), String> {
    if got == expected {
        Ok(())
    } else {
        Err(format!("{what}: {got} values, the dimensions need {expected}"))
    }
}

/// Loads every case listed in `dir/manifest.json`.
///
/// # Errors
/// A message naming the file and the problem (missing file, bad JSON,
/// unsupported dtype).
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, String> {
    let mpath = dir.join("manifest.json");
    let text = std::fs::read_to_string(&mpath).map_err(|e| format!("{}: {e}", mpath.display()))?;
    let m: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", mpath.display()))?;
    let cases = m
        .get("cases")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{}: no `cases` array", mpath.display()))?;
    let default_tol = m.get("default_tolerance").cloned().unwrap_or(Value::Null);
    cases.iter().map(|c| load_case(dir, c, &default_tol)).collect()
}

fn load_case(dir: &Path, c: &Value, default_tol: &Value) -> Result<Case, String> {
    let s = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("case without `{k}`"))
    };
    let name = s("name")?;
    let file: PathBuf = dir.join(s("file")?);
    let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut tensors = BTreeMap::new();
    for (tname, view) in st.tensors() {
        let raw = view.data();
        let data: Vec<f64> = match view.dtype() {
            safetensors::Dtype::F32 => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            safetensors::Dtype::F64 => raw
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
                .collect(),
            safetensors::Dtype::I64 => raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                .collect(),
            d => {
                return Err(format!(
                    "{}: tensor `{tname}` has unsupported dtype {d:?}",
                    file.display()
                ))
            }
        };
        tensors.insert(
            tname,
            GTensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    let tol = c.get("tolerance").unwrap_or(default_tol);
    let f = |k: &str, d: f64| tol.get(k).and_then(Value::as_f64).unwrap_or(d);
    let expected = c
        .get("expected")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(Case {
        name,
        kind: s("kind")?,
        dtype: s("dtype").unwrap_or_else(|_| "F32".into()),
        params: c.get("params").cloned().unwrap_or(Value::Null),
        tensors,
        expected,
        rtol: f("rtol", 1e-4),
        atol: f("atol", 1e-5),
    })
}

/// Runs one case. An unknown kind is a failure.
///
/// # Errors
/// The first mismatch or problem, as a message.
pub fn run_case(case: &Case) -> Result<(), String> {
    match case.kind.as_str() {
        "linear" => linear::run(case),
        "relu" | "sigmoid" | "tanh" | "softmax" | "log_softmax" | "leaky_relu" | "gelu" | "layernorm"
        | "batchnorm1d" | "batchnorm2d" => elementwise::run(case),
        "conv2d" | "maxpool2d" | "avgpool2d" | "global_avg_pool2d" | "flatten" => spatial::run(case),
        "mse_loss" | "cross_entropy" | "kl_div" | "bce_with_logits" | "l1_loss" | "distillation" | "l1_penalty"
        | "l2_penalty" | "sgd" | "adagrad" | "rmsprop" | "adam" | "adamw" => loss_optim::run(case),
        "scaled_dot_product_attention" | "multihead_attention" | "residual_block" => attention::run(case),
        "train_step" => train_step::run(case),
        "embedding" | "conv1d" | "lstm" | "gru" => sequence::run(case),
        "fake_quant" => quant::run(case),
        other => Err(format!("unknown case kind `{other}`")),
    }
}

/// Results of running a directory.
#[derive(Debug, Default)]
pub struct Report {
    /// `(case name, kind, outcome)` in manifest order.
    pub results: Vec<(String, String, Result<(), String>)>,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.2.is_ok()).count()
    }
    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

/// Loads and runs every case of a directory.
///
/// # Errors
/// When the directory or a file cannot be loaded.
pub fn run_dir(dir: &Path) -> Result<Report, String> {
    let cases = load_dir(dir)?;
    let results = cases
        .iter()
        .map(|c| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_case(c)))
                .unwrap_or_else(|_| Err("panicked".to_string()));
            (c.name.clone(), c.kind.clone(), r)
        })
        .collect();
    Ok(Report { results })
}

/// The golden directory vendored in this repository (for tests).
pub fn vendored_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden")
}

#[cfg(test)]
pub(crate) fn run_kinds(kinds: &[&str]) {
    let cases = load_dir(&vendored_dir()).unwrap();
    let mut ran = std::collections::HashSet::new();
    for c in cases.iter().filter(|c| kinds.contains(&c.kind.as_str())) {
        run_case(c).unwrap_or_else(|e| panic!("golden case `{}`: {e}", c.name));
        ran.insert(c.kind.as_str());
    }
    for k in kinds {
        assert!(ran.contains(k), "no golden case of kind `{k}` in the manifest");
    }
}

/// Every kind of the vendored manifest, each with its number of cases.
/// A kind that vanishes from the manifest (or a new one without a runner)
/// fails the test below: "at least one case ran" would not notice.
#[cfg(test)]
const MANIFEST_KINDS: &[(&str, usize)] = &[
    ("adagrad", 1),
    ("adam", 2),
    ("adamw", 1),
    ("avgpool2d", 2),
    ("batchnorm1d", 2),
    ("batchnorm2d", 2),
    ("bce_with_logits", 2),
    ("conv1d", 2),
    ("conv2d", 6),
    ("cross_entropy", 3),
    ("distillation", 1),
    ("embedding", 1),
    ("fake_quant", 2),
    ("flatten", 1),
    ("gelu", 2),
    ("global_avg_pool2d", 1),
    ("gru", 2),
    ("kl_div", 1),
    ("l1_loss", 1),
    ("l1_penalty", 1),
    ("l2_penalty", 1),
    ("layernorm", 2),
    ("leaky_relu", 1),
    ("linear", 3),
    ("log_softmax", 2),
    ("lstm", 2),
    ("maxpool2d", 3),
    ("mse_loss", 1),
    ("multihead_attention", 2),
    ("relu", 1),
    ("residual_block", 1),
    ("rmsprop", 2),
    ("scaled_dot_product_attention", 3),
    ("sgd", 4),
    ("sigmoid", 2),
    ("softmax", 2),
    ("tanh", 1),
    ("train_step", 2),
];

/// Kinds of the manifest that have no runner yet (none since the
/// distillation loss landed); `run_dir` reports them as failures.
#[cfg(test)]
const NO_RUNNER_YET: &[&str] = &[];

#[cfg(test)]
mod manifest_tests {
    use super::*;

    /// Issue 19: the whole vendored set runs and passes, and its kinds are
    /// exactly the expected ones with their case counts.
    #[test]
    fn every_manifest_kind_runs_and_passes() {
        let report = run_dir(&vendored_dir()).unwrap();
        let failed: Vec<_> = report
            .results
            .iter()
            .filter(|r| r.2.is_err() && !NO_RUNNER_YET.contains(&r.1.as_str()))
            .collect();
        assert!(failed.is_empty(), "{failed:?}");
        // The kinds without a runner fail as unknown, and only they do.
        for (name, kind, r) in &report.results {
            if NO_RUNNER_YET.contains(&kind.as_str()) {
                assert!(matches!(r, Err(e) if e.contains("unknown case kind")), "{name}: {r:?}");
            }
        }
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for (_, kind, _) in &report.results {
            *kinds.entry(kind.as_str()).or_default() += 1;
        }
        let expected: std::collections::BTreeMap<&str, usize> = MANIFEST_KINDS.iter().copied().collect();
        assert_eq!(kinds, expected);
    }
}
