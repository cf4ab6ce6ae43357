//! Weight penalties: L1 and L2 regularisation added to the loss explicitly.
//!
//! [`L1Penalty`] adds `lambda sum |w|` and [`L2Penalty`] adds
//! `lambda / 2 sum w^2` over every trainable, unfrozen parameter (weights
//! and biases alike, as `sum(p.abs().sum() for p in model.parameters())`
//! would; buffers and frozen parameters are skipped). Call
//! [`Regularizer::add_grad`] after `backward` and before the optimizer step,
//! and add [`Regularizer::penalty`] to the reported loss if wanted.
//!
//! The other route is an optimizer's own `weight_decay` (`Sgd`, `Adam`: an
//! L2 term `wd p` added to the gradient, the same as an `L2Penalty` with
//! `lambda = wd`; `AdamW`: decoupled shrinkage), which costs nothing extra.
//!
//! **PyTorch equivalent**: `loss + lam * sum(p.abs().sum() ...)` and
//! `loss + lam / 2 * sum((p ** 2).sum() ...)` before `backward()`.
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::prelude::*;
//! use dl_nn::regularize::{L1Penalty, Regularizer};
//! let mut fc = Linear::<2, 1, Cpu, f64>::init(&Cpu, 0);
//! fc.weight.set_value(&[0.5, -2.0]).unwrap();
//! fc.bias.set_value(&[0.0]).unwrap();
//! let l1 = L1Penalty { lambda: 0.1 };
//! assert!((l1.penalty(&fc) - 0.25).abs() < 1e-15);
//! l1.add_grad(&mut fc);
//! assert_eq!(fc.weight.grad, vec![0.1, -0.1]);
//! assert_eq!(fc.bias.grad, vec![0.0]); // sign(0) = 0
//! ```

use crate::module::Module;
use dl_core::ops::optim::Penalty;
use dl_core::{Backend, Float};

/// The penalty of one buffer: `lambda sum |w|` (L1) or `lambda / 2 sum w^2` (L2).
pub fn penalty_flat<B: Backend, E: Float>(dev: &B, kind: Penalty, lambda: f64, w: &B::Buf<E>) -> f64 {
    match kind {
        Penalty::L1 => lambda * dev.sum_abs(w),
        Penalty::L2 => lambda * 0.5 * dev.sum_squares(w),
    }
}

/// Accumulates the penalty's gradient into `g`: `lambda sign(w)` (L1, with
/// `sign(0) = 0`) or `lambda w` (L2).
pub fn penalty_grad_flat<B: Backend, E: Float>(dev: &B, kind: Penalty, lambda: f64, w: &B::Buf<E>, g: &mut B::Buf<E>) {
    dev.penalty_grad(kind, lambda, w, g);
}

/// A weight penalty over a model's trainable parameters.
pub trait Regularizer {
    /// Which penalty and its strength.
    fn kind_lambda(&self) -> (Penalty, f64);

    /// The penalty over every trainable, unfrozen parameter (summed in
    /// visit order, in `f64`).
    fn penalty<B: Backend, E: Float, M: Module<B, E>>(&self, model: &M) -> f64 {
        let (kind, lambda) = self.kind_lambda();
        let mut total = 0.0;
        model.visit("", &mut |_, p| {
            if p.is_trainable() {
                total += penalty_flat(&p.dev, kind, lambda, &p.value);
            }
        });
        total
    }

    /// Adds the penalty's gradient to every trainable, unfrozen
    /// parameter's `grad` (allocation-free).
    fn add_grad<B: Backend, E: Float, M: Module<B, E>>(&self, model: &mut M) {
        let (kind, lambda) = self.kind_lambda();
        model.for_each_param(&mut |p| {
            if p.is_trainable() {
                penalty_grad_flat(&p.dev, kind, lambda, &p.value, &mut p.grad);
            }
        });
    }
}

/// `lambda sum |w|`, gradient `lambda sign(w)` with `sign(0) = 0`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct L1Penalty {
    /// Strength.
    pub lambda: f64,
}

/// `lambda / 2 sum w^2`, gradient `lambda w`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct L2Penalty {
    /// Strength.
    pub lambda: f64,
}

impl Regularizer for L1Penalty {
    fn kind_lambda(&self) -> (Penalty, f64) {
        (Penalty::L1, self.lambda)
    }
}

impl Regularizer for L2Penalty {
    fn kind_lambda(&self) -> (Penalty, f64) {
        (Penalty::L2, self.lambda)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::test_util::{model, Toy};
    use dl_core::gradcheck::{check_gradient, GradCheck};
    use dl_core::Cpu;

    fn check<R: Regularizer>(r: R) {
        let mut m = model();
        m.w.value[2] = 0.0;
        m.zero_grad();
        r.add_grad(&mut m);
        assert!(m.frozen.grad.iter().chain(&m.running.grad).all(|&g| g == 0.0));
        let base = m.clone();
        // Gradient check over w (b is checked the same way by symmetry of the code).
        let f = |v: &[f64]| {
            let mut t: Toy = base.clone();
            t.w.set_value(v).unwrap();
            r.penalty(&t)
        };
        let (kind, _) = r.kind_lambda();
        let grad = m.w.grad.clone();
        if kind == Penalty::L1 {
            // |w| is not differentiable at 0: the subgradient there is 0;
            // the other elements are checked by finite differences.
            assert_eq!(grad[2], 0.0);
        }
        let x = base.w.value.clone();
        let numeric = dl_core::gradcheck::numeric_gradient(f, &x, 1e-7);
        for i in 0..x.len() {
            if kind == Penalty::L1 && i == 2 {
                continue;
            }
            assert!(
                (numeric[i] - grad[i]).abs() < 1e-6,
                "{i}: {} vs {}",
                numeric[i],
                grad[i]
            );
        }
        if kind == Penalty::L2 {
            let f = |v: &[f64]| {
                let mut t: Toy = base.clone();
                t.w.set_value(v).unwrap();
                r.penalty(&t)
            };
            check_gradient(f, &x, &m.w.grad, GradCheck::default()).unwrap();
        }
    }

    #[test]
    fn gradients_and_skipping() {
        check(L1Penalty { lambda: 0.3 });
        check(L2Penalty { lambda: 0.3 });
    }

    #[test]
    fn values() {
        let m = model();
        let all: Vec<f64> = m.w.value.iter().chain(&m.b.value).copied().collect();
        let l1 = L1Penalty { lambda: 0.5 }.penalty(&m);
        assert!((l1 - 0.5 * all.iter().map(|v| v.abs()).sum::<f64>()).abs() < 1e-14);
        let l2 = L2Penalty { lambda: 0.5 }.penalty(&m);
        assert!((l2 - 0.25 * all.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-14);
        assert_eq!(penalty_flat(&Cpu, Penalty::L2, 1.0, &Vec::<f32>::new()), 0.0);
    }
}
