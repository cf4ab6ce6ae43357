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

/// [`check_gradient`] of a loss of several arguments (an input and the
/// parameters, say) with respect to each argument in turn, the others
/// held at `args`: `grads[i]` is the analytic gradient of argument `i`.
///
/// ```
/// use dl_core::gradcheck::{assert_gradients, GradCheck};
/// // f(x, w) = sum(x * w): df/dx = w, df/dw = x
/// let (x, w) = (vec![0.5, -1.0], vec![2.0, 3.0]);
/// let f = |[x, w]: [&[f64]; 2]| x.iter().zip(w).map(|(a, b)| a * b).sum();
/// assert_gradients(f, [&x, &w], [&w, &x], GradCheck::default(), "x * w");
/// ```
///
/// # Panics
/// At the first argument whose gradient fails, naming `what`, the
/// argument's position and the [`GradCheckFailure`].
#[track_caller]
pub fn assert_gradients<const N: usize>(
    loss: impl Fn([&[f64]; N]) -> f64,
    args: [&[f64]; N],
    grads: [&[f64]; N],
    opts: GradCheck,
    what: impl std::fmt::Display,
) {
    for i in 0..N {
        let f = |v: &[f64]| {
            let mut a: [&[f64]; N] = args;
            a[i] = v;
            loss(a)
        };
        check_gradient(f, args[i], grads[i], opts).unwrap_or_else(|e| panic!("{what}: argument {i}: {e}"));
    }
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
