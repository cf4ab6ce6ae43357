//! Mean squared error: `mean((p - t)^2)` over every element.
//!
//! The gradient is `2 (p - t) / n` with `n` the number of elements (batch included).
//!
//! **PyTorch equivalent**: `nn.MSELoss()` / `F.mse_loss(pred, target)`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// Mean squared error: `(loss, d loss / d pred)`.
    ///
    /// **PyTorch equivalent**: `F.mse_loss(pred, target)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let p = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![1.0, 3.0]).unwrap();
    /// let t = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.0, 1.0]).unwrap();
    /// let (loss, grad) = dl_nn::loss::mse_loss(&p, &t).unwrap();
    /// assert_eq!(loss, 2.5);
    /// assert_eq!(grad.to_vec(), vec![1.0, 2.0]);
    /// ```
    fn mse_loss(pred);
    /// Mean squared error as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.MSELoss()`.
    struct Mse;
    kind: PointwiseLoss::Mse, per_sample: false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use dl_core::{Cpu, Error, Rng, S2};

    type T = Tensor<S2<2, 3>, Cpu, f64>;

    fn target(rng: &mut Rng) -> T {
        let v: Vec<f64> = (0..24).map(|_| rng.normal()).collect();
        T::from_vec(&Cpu, 4, v).unwrap()
    }

    #[test]
    fn value_and_gradient_check() {
        let mut rng = Rng::new(7);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let (l, g) = mse_loss(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| (p - t).powi(2))
            .sum::<f64>()
            / 24.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| mse_loss(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = mse_loss(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = mse_loss(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = Mse.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = mse_loss(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
