//! Kullback-Leibler divergence, reduction `batchmean`.
//!
//! For log-probabilities `x` (the input) and probabilities `t` (the target, `log_target = false`):
//! `sum t (ln t - x) / N` with `N` the batch size and `0 ln 0 = 0`; the gradient is `-t / N`.
//!
//! **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")` / `F.kl_div(log_probs, target, reduction="batchmean")`.

use super::{pointwise_loss, Loss};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::{Backend, Float, Result, Shape, Tensor};

pointwise_loss! {
    /// KL divergence (batchmean): `(loss, d loss / d log_probs)`.
    ///
    /// **PyTorch equivalent**: `F.kl_div(log_probs, target, reduction="batchmean")`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// let x = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.5f32.ln(), 0.5f32.ln()]).unwrap();
    /// let t = Tensor::<S1<2>>::from_vec(&Cpu, 1, vec![0.5, 0.5]).unwrap();
    /// let (loss, grad) = dl_nn::loss::kl_div(&x, &t).unwrap();
    /// assert!(loss.abs() < 1e-7); // identical distributions
    /// assert_eq!(grad.to_vec(), vec![-0.5, -0.5]);
    /// ```
    fn kl_div(log_probs);
    /// KL divergence (batchmean) as a [`Loss`] (target: a tensor of the prediction's shape).
    ///
    /// **PyTorch equivalent**: `nn.KLDivLoss(reduction="batchmean")`.
    struct KlDiv;
    kind: PointwiseLoss::KlDiv, per_sample: true, metrics: &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::test_util::check;
    use dl_core::{Cpu, Error, Rng, S2};

    type T = Tensor<S2<2, 3>, Cpu, f64>;

    fn target(rng: &mut Rng) -> T {
        let v: Vec<f64> = (0..24).map(|_| rng.uniform()).collect();
        T::from_vec(&Cpu, 4, v).unwrap()
    }

    #[test]
    fn value_and_gradient_check() {
        let mut rng = Rng::new(7);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let (l, g) = kl_div(&x, &t).unwrap();
        let reference: f64 = x
            .to_vec()
            .iter()
            .zip(t.to_vec())
            .map(|(&p, t): (&f64, f64)| t * (t.ln() - p))
            .sum::<f64>()
            / 4.0;
        assert!((l - reference).abs() < 1e-12, "{l} vs {reference}");
        let f = |v: &[f64]| kl_div(&T::from_slice(&Cpu, 4, v).unwrap(), &t).unwrap().0;
        check(f, &x.to_vec(), &g.to_vec());
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let e = kl_div(&T::zeros(&Cpu, 2), &T::zeros(&Cpu, 3)).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
        let e = kl_div(&T::zeros(&Cpu, 0), &T::zeros(&Cpu, 0)).unwrap_err();
        assert!(e.to_string().contains("empty batch"), "{e}");
    }

    #[test]
    fn loss_trait_matches_function() {
        let mut rng = Rng::new(8);
        let x = T::randn(&Cpu, 4, &mut rng);
        let t = target(&mut rng);
        let mut g = T::empty(&Cpu);
        let l = KlDiv.loss(&x, &t, &mut g).unwrap();
        let (l2, g2) = kl_div(&x, &t).unwrap();
        assert_eq!((l, g.to_vec()), (l2, g2.to_vec()));
    }

    #[test]
    fn large_log_probs_are_finite_in_f32() {
        let x = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![-1e4, 0.0, -1e4, -1e-4]).unwrap();
        let t = Tensor::<S2<1, 2>>::from_vec(&Cpu, 2, vec![0.0, 1.0, 0.5, 0.5]).unwrap();
        let (l, g) = kl_div(&x, &t).unwrap();
        assert!(l.is_finite() && g.all_finite());
        assert!(
            (l - 0.5 * (0.5 * (0.5f32.ln() + 1e4) + 0.5 * (0.5f32.ln() + 1e-4))).abs() < 1e-2,
            "{l}"
        );
    }
}
