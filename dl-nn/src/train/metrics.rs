//! Metrics for float targets: regression (MSE, MAE, R²) and binary or
//! multi-label classification from logits (accuracy at logit 0, that is
//! probability 0.5).
//!
//! `fit` and `evaluate` report them for a loss whose target is a float
//! tensor: the loss names its [`Metric`]s ([`crate::loss::Loss::metrics`]:
//! MSE, MAE and R² by default, binary accuracy for `BceWithLogits`), the
//! figures land in [`MetricValues`] (`EpochRecord::train_metrics`,
//! `val_metrics`, `Evaluation::metrics`), and callbacks watch them as
//! `Monitor::Val(Metric::R2)` (Keras name `val_r2`). Class labels keep
//! their accuracy (`train_accuracy`, `val_accuracy`).
//!
//! ```
//! use dl_nn::train::metrics::{binary_accuracy, RegressionMetrics};
//! let m = RegressionMetrics::new(&[1.0f32, 2.0, 3.0], &[1.0, 2.0, 4.0]);
//! assert!((m.mse - 1.0 / 3.0).abs() < 1e-12);
//! assert!((m.r2 - (1.0 - 1.0 / (14.0 / 3.0))).abs() < 1e-12);
//! assert_eq!(binary_accuracy(&[2.0f32, -1.0, 0.5], &[1.0, 0.0, 0.0]), 2.0 / 3.0);
//! ```

use dl_core::Float;

/// A figure that `fit` and `evaluate` report besides the loss for a loss
/// whose target is a float tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Fraction of output elements whose logit falls on the side of its
    /// 0/1 target ([`binary_accuracy`]); Keras `binary_accuracy`.
    BinaryAccuracy,
    /// Mean squared error over every output element; Keras `mse`.
    Mse,
    /// Mean absolute error over every output element; Keras `mae`.
    Mae,
    /// Coefficient of determination `1 - SSE / SST` per output, averaged
    /// over the outputs (scikit-learn's `r2_score`, `uniform_average`);
    /// NaN when a target is constant over the pass.
    R2,
}

impl Metric {
    /// Every metric, in the order of [`MetricValues::iter`].
    pub const ALL: [Metric; 4] = [Metric::BinaryAccuracy, Metric::Mse, Metric::Mae, Metric::R2];
    /// The metrics of a regression loss (the default of [`crate::loss::Loss::metrics`]).
    pub const REGRESSION: &'static [Metric] = &[Metric::Mse, Metric::Mae, Metric::R2];
    /// The metric of a binary or multi-label loss on logits.
    pub const BINARY: &'static [Metric] = &[Metric::BinaryAccuracy];

    /// The Keras name of the training figure (`binary_accuracy`, `mse`, `mae`, `r2`).
    pub fn name(self) -> &'static str {
        match self {
            Metric::BinaryAccuracy => "binary_accuracy",
            Metric::Mse => "mse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
        }
    }
    /// The Keras name of the validation figure (`val_binary_accuracy`, `val_mse`, ...).
    pub fn val_name(self) -> &'static str {
        match self {
            Metric::BinaryAccuracy => "val_binary_accuracy",
            Metric::Mse => "val_mse",
            Metric::Mae => "val_mae",
            Metric::R2 => "val_r2",
        }
    }
    /// Whether a higher value is better (accuracy, R²).
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::BinaryAccuracy | Metric::R2)
    }
    /// The metric of a Keras name (`"r2"`, `"mae"`...), if it is one.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The float-target figures of one pass (`None`: not computed in this run).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MetricValues {
    /// [`Metric::BinaryAccuracy`].
    pub binary_accuracy: Option<f64>,
    /// [`Metric::Mse`].
    pub mse: Option<f64>,
    /// [`Metric::Mae`].
    pub mae: Option<f64>,
    /// [`Metric::R2`].
    pub r2: Option<f64>,
}

impl MetricValues {
    /// The value of `m`, if computed.
    pub fn get(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::BinaryAccuracy => self.binary_accuracy,
            Metric::Mse => self.mse,
            Metric::Mae => self.mae,
            Metric::R2 => self.r2,
        }
    }
    /// Sets the value of `m`.
    pub fn set(&mut self, m: Metric, v: Option<f64>) {
        match m {
            Metric::BinaryAccuracy => self.binary_accuracy = v,
            Metric::Mse => self.mse = v,
            Metric::Mae => self.mae = v,
            Metric::R2 => self.r2 = v,
        }
    }
    /// Whether no metric was computed (a run on class labels).
    pub fn is_empty(&self) -> bool {
        Metric::ALL.iter().all(|&m| self.get(m).is_none())
    }
    /// The computed metrics and their values, in [`Metric::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, f64)> + '_ {
        Metric::ALL.into_iter().filter_map(|m| self.get(m).map(|v| (m, v)))
    }
    /// The figure a plot or a summary shows first: binary accuracy, else
    /// R², else MAE, else MSE.
    pub fn primary(&self) -> Option<(Metric, f64)> {
        [Metric::BinaryAccuracy, Metric::R2, Metric::Mae, Metric::Mse]
            .into_iter()
            .find_map(|m| self.get(m).map(|v| (m, v)))
    }
}

impl MetricValues {
    /// `mse 0.4012 - mae 0.5120 - r2 0.5310` (binary accuracy as a
    /// percentage), each name preceded by `prefix` (`"val_"`).
    pub fn describe(&self, prefix: &str) -> String {
        let parts: Vec<String> = self
            .iter()
            .map(|(m, v)| match m {
                Metric::BinaryAccuracy => format!("{prefix}{} {:.2}%", m.name(), 100.0 * v),
                _ => format!("{prefix}{} {v:.4}", m.name()),
            })
            .collect();
        parts.join(" - ")
    }
}

impl std::fmt::Display for MetricValues {
    /// As [`MetricValues::describe`] without a prefix.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(""))
    }
}

/// Accumulates the float-target metrics of a pass batch by batch, from host
/// copies of the outputs and targets. Its state is a few sums per output,
/// so passes on several ranks add up ([`MetricSums::sums_mut`]).
#[derive(Clone, Debug)]
pub(crate) struct MetricSums {
    metrics: &'static [Metric],
    outputs: usize,
    /// Samples.
    n: f64,
    /// Elements whose logit is on the side of their target.
    right: f64,
    /// `sum |p - t|` over every element.
    sae: f64,
    /// Per output: `sum (p - t)^2`, `sum t`, `sum t^2`.
    per_output: Vec<[f64; 3]>,
    /// Flat copy of the sums for a reduction over ranks.
    flat: Vec<f64>,
}

impl MetricSums {
    /// Empty sums for `metrics` on outputs of `outputs` elements.
    pub(crate) fn new(metrics: &'static [Metric], outputs: usize) -> Self {
        Self {
            metrics,
            outputs,
            n: 0.0,
            right: 0.0,
            sae: 0.0,
            per_output: vec![[0.0; 3]; outputs],
            flat: Vec::with_capacity(3 + 3 * outputs),
        }
    }
    /// Whether no metric is wanted (nothing to add up).
    pub(crate) fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }
    /// Back to no sample.
    pub(crate) fn reset(&mut self) {
        self.n = 0.0;
        self.right = 0.0;
        self.sae = 0.0;
        self.per_output.iter_mut().for_each(|s| *s = [0.0; 3]);
    }
    /// Adds a batch: `out` and `target` hold `outputs` values per sample.
    pub(crate) fn add<E: Float>(&mut self, out: &[E], target: &[f32]) {
        let k = self.outputs.max(1);
        for (row, trow) in out.chunks_exact(k).zip(target.chunks_exact(k)) {
            self.n += 1.0;
            for ((p, &t), s) in row.iter().zip(trow).zip(&mut self.per_output) {
                let (p, t) = (p.to_f64(), t as f64);
                let d = p - t;
                s[0] += d * d;
                s[1] += t;
                s[2] += t * t;
                self.sae += d.abs();
                if (p > 0.0) == (t > 0.5) {
                    self.right += 1.0;
                }
            }
        }
    }
    /// The sums as one flat slice (to all-reduce over ranks, then write back).
    pub(crate) fn sums_mut(&mut self) -> &mut Vec<f64> {
        self.flat.clear();
        self.flat.extend([self.n, self.right, self.sae]);
        for s in &self.per_output {
            self.flat.extend_from_slice(s);
        }
        &mut self.flat
    }
    /// Reads the sums back from [`MetricSums::sums_mut`]'s slice.
    pub(crate) fn load_sums(&mut self) {
        let f = &self.flat;
        if f.len() != 3 + 3 * self.per_output.len() {
            return;
        }
        (self.n, self.right, self.sae) = (f[0], f[1], f[2]);
        for (s, v) in self.per_output.iter_mut().zip(f[3..].chunks_exact(3)) {
            s.copy_from_slice(v);
        }
    }
    /// The figures of the samples added so far.
    pub(crate) fn values(&self) -> MetricValues {
        let mut v = MetricValues::default();
        let elems = self.n * self.outputs as f64;
        let nan = |x: f64| if elems > 0.0 { x } else { f64::NAN };
        let sse: f64 = self.per_output.iter().map(|s| s[0]).sum();
        for &m in self.metrics {
            let x = match m {
                Metric::BinaryAccuracy => nan(self.right / elems),
                Metric::Mse => nan(sse / elems),
                Metric::Mae => nan(self.sae / elems),
                Metric::R2 => {
                    let r2: f64 = self
                        .per_output
                        .iter()
                        .map(|s| {
                            let sst = s[2] - s[1] * s[1] / self.n;
                            if sst > 0.0 {
                                1.0 - s[0] / sst
                            } else {
                                f64::NAN
                            }
                        })
                        .sum();
                    nan(r2 / self.outputs as f64)
                }
            };
            v.set(m, Some(x));
        }
        v
    }
}

/// Regression metrics of predictions against targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegressionMetrics {
    /// Mean squared error.
    pub mse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination `1 - SSE / SST` (SST around the
    /// targets' mean; `NaN` when the targets are constant), as
    /// scikit-learn's `r2_score`.
    pub r2: f64,
}

impl RegressionMetrics {
    /// The metrics of `pred` against `target` (element-wise, equal
    /// lengths; extra elements of the longer one are ignored).
    pub fn new<E: Float>(pred: &[E], target: &[E]) -> Self {
        let n = pred.len().min(target.len());
        if n == 0 {
            return Self {
                mse: f64::NAN,
                mae: f64::NAN,
                r2: f64::NAN,
            };
        }
        let mean = target[..n].iter().map(|t| t.to_f64()).sum::<f64>() / n as f64;
        let (mut sse, mut sae, mut sst) = (0.0, 0.0, 0.0);
        for (p, t) in pred.iter().zip(target) {
            let (p, t) = (p.to_f64(), t.to_f64());
            sse += (p - t) * (p - t);
            sae += (p - t).abs();
            sst += (t - mean) * (t - mean);
        }
        Self {
            mse: sse / n as f64,
            mae: sae / n as f64,
            r2: if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN },
        }
    }
}

impl std::fmt::Display for RegressionMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mse {:.4} - mae {:.4} - r2 {:.4}", self.mse, self.mae, self.r2)
    }
}

/// Fraction of outputs whose logit falls on the side of its 0/1 target
/// (logit `> 0` predicts 1). For multi-label outputs every element counts.
pub fn binary_accuracy<E: Float>(logits: &[E], targets: &[E]) -> f64 {
    let n = logits.len().min(targets.len());
    if n == 0 {
        return f64::NAN;
    }
    let right = logits
        .iter()
        .zip(targets)
        .filter(|(l, t)| (l.to_f64() > 0.0) == (t.to_f64() > 0.5))
        .count();
    right as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_mean_predictions() {
        let t = [1.0f64, 2.0, 3.0, 6.0];
        assert_eq!(RegressionMetrics::new(&t, &t).r2, 1.0);
        let m = RegressionMetrics::new(&[3.0f64; 4], &t);
        assert!(m.r2.abs() < 1e-12);
        assert_eq!(m.mae, 1.5);
        assert!(RegressionMetrics::new::<f32>(&[], &[]).mse.is_nan());
        assert!(RegressionMetrics::new(&[1.0f32], &[1.0]).r2.is_nan());
    }

    #[test]
    fn sums_agree_with_the_whole_pass_functions() {
        let p = [1.0f32, 2.5, -0.5, 3.0, 0.2];
        let t = [1.5f32, 2.0, 0.0, 4.0, 1.0];
        let mut s = MetricSums::new(Metric::REGRESSION, 1);
        s.add(&p[..2], &t[..2]);
        s.add(&p[2..], &t[2..]);
        let v = s.values();
        let r = RegressionMetrics::new(&p, &t);
        for (a, b) in [(v.mse, r.mse), (v.mae, r.mae), (v.r2, r.r2)] {
            assert!((a.unwrap() - b).abs() < 1e-12, "{a:?} {b}");
        }
        assert_eq!(v.binary_accuracy, None);
        assert_eq!(v.primary(), Some((Metric::R2, v.r2.unwrap())));
        // Two outputs: R² is the mean of the per-output R²s; a reduction
        // over ranks adds the sums.
        let mut s = MetricSums::new(&[Metric::R2, Metric::BinaryAccuracy], 2);
        s.add(&[1.0f64, 0.25, 2.0, 1.0, 3.0, 5.0], &[1.0, 0.0, 2.0, 2.0, 4.0, 4.0]);
        let a = RegressionMetrics::new(&[1.0f64, 2.0, 3.0], &[1.0, 2.0, 4.0]).r2;
        let b = RegressionMetrics::new(&[0.25f64, 1.0, 5.0], &[0.0, 2.0, 4.0]).r2;
        assert!((s.values().r2.unwrap() - (a + b) / 2.0).abs() < 1e-12);
        // 0.25 > 0 predicts 1 against a 0 target.
        assert_eq!(s.values().binary_accuracy, Some(5.0 / 6.0));
        let sums = s.sums_mut();
        sums.iter_mut().for_each(|v| *v *= 2.0);
        s.load_sums();
        assert!((s.values().r2.unwrap() - (a + b) / 2.0).abs() < 1e-12);
        s.reset();
        assert!(s.values().r2.unwrap().is_nan());
        assert_eq!(Metric::from_name("val_r2"), None);
        assert_eq!(Metric::from_name("mae"), Some(Metric::Mae));
        assert_eq!(Metric::R2.val_name(), "val_r2");
    }

    #[test]
    fn binary_threshold_is_logit_zero() {
        assert_eq!(binary_accuracy(&[0.0f32, 1e-3, -1e-3], &[0.0, 1.0, 0.0]), 1.0);
        assert_eq!(binary_accuracy(&[5.0f32], &[0.0]), 0.0);
    }
}
