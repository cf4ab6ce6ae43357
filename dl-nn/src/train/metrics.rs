//! Metrics for float targets: regression (MSE, MAE, R²) and binary or
//! multi-label classification from logits (accuracy at logit 0, that is
//! probability 0.5).
//!
//! ```
//! use dl_nn::train::metrics::{binary_accuracy, RegressionMetrics};
//! let m = RegressionMetrics::new(&[1.0f32, 2.0, 3.0], &[1.0, 2.0, 4.0]);
//! assert!((m.mse - 1.0 / 3.0).abs() < 1e-12);
//! assert!((m.r2 - (1.0 - 1.0 / (14.0 / 3.0))).abs() < 1e-12);
//! assert_eq!(binary_accuracy(&[2.0f32, -1.0, 0.5], &[1.0, 0.0, 0.0]), 2.0 / 3.0);
//! ```

use dl_core::Float;

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
    fn binary_threshold_is_logit_zero() {
        assert_eq!(binary_accuracy(&[0.0f32, 1e-3, -1e-3], &[0.0, 1.0, 0.0]), 1.0);
        assert_eq!(binary_accuracy(&[5.0f32], &[0.0]), 0.0);
    }
}
