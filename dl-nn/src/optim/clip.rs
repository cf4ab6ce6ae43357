//! Gradient clipping by the global L2 norm.
//!
//! **PyTorch equivalent**: `torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)`.

use crate::module::Module;
use dl_core::{Backend, Error, Float, Result};

/// Scales the gradients of every trainable, unfrozen parameter of `model`
/// so that their global L2 norm is at most `max_norm`, and returns the norm
/// *before* clipping.
///
/// As PyTorch: `coef = max_norm / (norm + 1e-6)`, and the gradients are
/// multiplied by `coef` when it is below 1. A non-finite norm (an `inf` or
/// NaN gradient) is returned as is and the gradients are scaled by the
/// resulting coefficient, as `clip_grad_norm_(error_if_nonfinite=False)`
/// does; check the returned norm to skip such steps. The sum of squares is
/// accumulated in `f64` in parameter order (deterministic).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let mut fc = Linear::<2, 1, Cpu, f64>::init(&Cpu, 0);
/// fc.weight.grad = vec![3.0, 0.0];
/// fc.bias.grad = vec![4.0];
/// let norm = dl_nn::optim::clip_grad_norm(&mut fc, 1.0).unwrap();
/// assert_eq!(norm, 5.0);
/// assert!((fc.bias.grad[0] - 0.8).abs() < 1e-6);
/// ```
///
/// # Errors
/// [`Error::InvalidArgument`] when `max_norm` is negative or NaN.
pub fn clip_grad_norm<B: Backend, E: Float, M: Module<B, E>>(model: &mut M, max_norm: f64) -> Result<f64> {
    if max_norm.is_nan() || max_norm < 0.0 {
        return Err(Error::InvalidArgument {
            op: "clip_grad_norm",
            msg: format!("max_norm must be >= 0, got {max_norm}"),
        });
    }
    let mut sq = 0.0;
    model.for_each_param(&mut |p| {
        if p.is_trainable() {
            sq += p.dev.sum_squares(&p.grad);
        }
    });
    let norm = sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 || coef.is_nan() {
        model.for_each_param(&mut |p| {
            if p.is_trainable() {
                p.dev.scale(&mut p.grad, coef);
            }
        });
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{model, set_grads};

    #[test]
    fn clips_trainable_grads_only() {
        let mut m = model();
        set_grads(&mut m, 1);
        let (frozen, running) = (m.frozen.grad.clone(), m.running.grad.clone());
        let expect: f64 = m.w.grad.iter().chain(&m.b.grad).map(|g| g * g).sum::<f64>().sqrt();
        let w = m.w.grad.clone();
        let norm = clip_grad_norm(&mut m, 0.5).unwrap();
        assert!((norm - expect).abs() < 1e-14);
        let coef = 0.5 / (expect + 1e-6);
        for (a, b) in m.w.grad.iter().zip(&w) {
            assert!((a - b * coef).abs() < 1e-15);
        }
        let after: f64 = m.w.grad.iter().chain(&m.b.grad).map(|g| g * g).sum::<f64>().sqrt();
        assert!((after - 0.5).abs() < 1e-5);
        assert_eq!((m.frozen.grad.clone(), m.running.grad.clone()), (frozen, running));
        // Below the limit: unchanged.
        let w = m.w.grad.clone();
        let n2 = clip_grad_norm(&mut m, 10.0).unwrap();
        assert!((n2 - after).abs() < 1e-14);
        assert_eq!(m.w.grad, w);
    }

    #[test]
    fn bad_max_norm_is_an_error() {
        let mut m = model();
        assert!(clip_grad_norm(&mut m, -1.0).is_err());
        assert!(clip_grad_norm(&mut m, f64::NAN).is_err());
    }
}
