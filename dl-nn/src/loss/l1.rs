//! Mean absolute error: `mean(|p - t|)` over every element.
//!
//! The gradient is `sign(p - t) / n`, with `sign(0) = 0` (as PyTorch).
//!
//! **PyTorch equivalent**: `nn.L1Loss()` / `F.l1_loss(pred, target)`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// Mean absolute error: `(loss, d loss / d pred)`.
    ///
    /// **PyTorch equivalent**: `F.l1_loss(pred, target)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let p = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 2.0]).unwrap();
    /// let t = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![0.0, 4.0, 2.0]).unwrap();
    /// let (loss, grad) = dl_nn::loss::l1_loss(&p, &t).unwrap();
    /// assert!((loss - 2.0 / 3.0).abs() < 1e-7);
    /// assert_eq!(grad.to_vec(), vec![1.0 / 3.0, -1.0 / 3.0, 0.0]); // sign(0) = 0
    /// ```
    fn l1_loss(pred);
    /// Mean absolute error as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.L1Loss()`.
    struct L1Loss;
    kind: PointwiseLoss::L1, per_sample: false
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
        let (l, g) = l1_loss(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| (p - t).abs())
            .sum::<f64>()
            / 24.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| l1_loss(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = l1_loss(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = l1_loss(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = L1Loss.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = l1_loss(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }
}
