//! Finite-difference gradient checking (f64, central differences).
//!
//! Every differentiable op and layer in the workspace is tested with
//! [`check_gradient`]: the analytic gradient from a backward kernel must
//! match `(f(x + h) - f(x - h)) / 2h` element by element.
//!
//! ```
//! use dl_core::gradcheck::{check_gradient, GradCheck};
//! // f(x) = sum(x^3), df/dx = 3 x^2
//! let x = vec![0.5, -1.0, 2.0];
//! let analytic: Vec<f64> = x.iter().map(|v| 3.0 * v * v).collect();
//! check_gradient(|x| x.iter().map(|v| v * v * v).sum(), &x, &analytic, GradCheck::default()).unwrap();
//! ```

/// Tolerances and step of a gradient check.
#[derive(Clone, Copy, Debug)]
pub struct GradCheck {
    /// Finite-difference step.
    pub eps: f64,
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
}

impl Default for GradCheck {
    fn default() -> Self {
        Self {
            eps: 1e-6,
            rtol: 1e-5,
            atol: 1e-7,
        }
    }
}

/// A gradient that disagrees with its finite-difference estimate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("gradient mismatch at index {index}: analytic {analytic}, numeric {numeric} (of {len} elements)")]
pub struct GradCheckFailure {
    /// Flat index of the first failing element.
    pub index: usize,
    /// Analytic value.
    pub analytic: f64,
    /// Finite-difference value.
    pub numeric: f64,
    /// Number of elements checked.
    pub len: usize,
}

/// Central-difference gradient of scalar `f` at `x`.
pub fn numeric_gradient(mut f: impl FnMut(&[f64]) -> f64, x: &[f64], eps: f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let orig = xp[i];
            xp[i] = orig + eps;
            let fp = f(&xp);
            xp[i] = orig - eps;
            let fm = f(&xp);
            xp[i] = orig;
            (fp - fm) / (2.0 * eps)
        })
        .collect()
}

/// Checks `analytic` against the central-difference gradient of `f` at `x`.
///
/// # Errors
/// The first element where `|analytic - numeric| > atol + rtol * |numeric|`.
pub fn check_gradient(
    f: impl FnMut(&[f64]) -> f64,
    x: &[f64],
    analytic: &[f64],
    opts: GradCheck,
) -> Result<(), GradCheckFailure> {
    assert_eq!(
        x.len(),
        analytic.len(),
        "check_gradient: x and analytic differ in length"
    );
    let numeric = numeric_gradient(f, x, opts.eps);
    for (i, (&a, &n)) in analytic.iter().zip(&numeric).enumerate() {
        let within = (a - n).abs() <= opts.atol + opts.rtol * n.abs();
        if !within {
            return Err(GradCheckFailure {
                index: i,
                analytic: a,
                numeric: n,
                len: x.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn detects_a_wrong_gradient() {
        let x = vec![1.0, 2.0];
        let bad = vec![2.0, 5.0]; // true gradient of sum(x^2) is [2, 4]
        let e = check_gradient(|x| x.iter().map(|v| v * v).sum(), &x, &bad, GradCheck::default()).unwrap_err();
        assert_eq!(e.index, 1);
    }
}
