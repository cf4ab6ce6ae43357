//! Dropout: in training mode each element is zeroed with probability
//! `P_PERCENT / 100` and the others are scaled by `1 / (1 - p)` (inverted
//! dropout); in evaluation mode it is the identity.
//!
//! **PyTorch equivalent**: `nn.Dropout(p=P_PERCENT / 100)`.

use crate::module::{Layer, Module, OutputShape};
use dl_core::ops::binary::{BinaryDims, BinaryOp};
use dl_core::shape::defaults;
use dl_core::{Backend, Cpu, Float, Rng, Shape, Tensor};
use std::marker::PhantomData;

/// Training forward on flat buffers of `len` elements: fills `mask` with 0
/// or `1 / (1 - p)` from `seed` and writes `y = x * mask` (both resized).
pub fn dropout_forward<B: Backend, E: Float>(
    dev: &B,
    p: f64,
    seed: u64,
    x: &B::Buf<E>,
    y: &mut B::Buf<E>,
    mask: &mut B::Buf<E>,
    len: usize,
) {
    dev.dropout_mask(p, seed, len, mask);
    dropout_backward(dev, x, mask, y, len);
}

/// Backward on flat buffers of `len` elements: `dx = dy * mask` (resized);
/// the forward applies its mask with it.
pub fn dropout_backward<B: Backend, E: Float>(
    dev: &B,
    dy: &B::Buf<E>,
    mask: &B::Buf<E>,
    dx: &mut B::Buf<E>,
    len: usize,
) {
    let d = BinaryDims {
        outer: 1,
        inner: len,
        broadcast_b: false,
    };
    dev.binary_forward(BinaryOp::Mul, d, dy, mask, dx);
}

/// Dropout with drop probability `P_PERCENT / 100` (checked at compile time
/// to be at most 100).
///
/// Active only in training mode ([`Module::set_training`], on by default,
/// as in PyTorch). Each `forward_train` draws a new mask from the layer's
/// own generator, forked at `init` from the network's seeded [`Rng`], so
/// runs repeat bit for bit. `forward` (inference) is the identity.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let mut d = Dropout::<50>::init(&Cpu, 0);
/// let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![1.0; 4]).unwrap();
/// let mut cache = <Dropout<50> as Layer<S1<4>, S1<4>, Cpu, f32>>::new_cache(&Cpu);
/// let mut y = Tensor::empty(&Cpu);
/// d.forward_train_into(&x, &mut y, &mut cache);
/// assert!(y.to_vec().iter().all(|&v| v == 0.0 || v == 2.0));
/// d.set_training(false);
/// d.forward_train_into(&x, &mut y, &mut cache);
/// assert_eq!(y.to_vec(), vec![1.0; 4]);
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct Dropout<const P_PERCENT: usize = { defaults::DROPOUT_PERCENT }, B: Backend = Cpu, E: Float = f32> {
    #[training]
    training: bool,
    #[skip(init = Self::mask_rng(rng))]
    rng: Rng,
    _p: PhantomData<(B, E)>,
}

impl<const P_PERCENT: usize, B: Backend, E: Float> Dropout<P_PERCENT, B, E> {
    /// The drop probability, `P_PERCENT / 100`.
    pub const P: f64 = P_PERCENT as f64 / 100.0;

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training
    }

    /// The layer's own stream of masks, forked from the model's generator.
    fn mask_rng(rng: &mut Rng) -> Rng {
        const { assert!(P_PERCENT <= 100, "Dropout: P_PERCENT must be at most 100") };
        let stream = rng.next_u64();
        rng.fork(stream)
    }
}

/// What backward needs: the mask, and whether it was applied.
#[derive(Clone, Debug)]
pub struct DropoutCache<B: Backend, E: Float> {
    /// 0 or `1 / (1 - p)` per element.
    pub mask: B::Buf<E>,
    /// Whether the last `forward_train` dropped anything (training mode, `p > 0`).
    pub active: bool,
}

impl<const P_PERCENT: usize, S: Shape, B: Backend, E: Float> OutputShape<S> for Dropout<P_PERCENT, B, E> {
    type Out = S;
}

impl<const P_PERCENT: usize, S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for Dropout<P_PERCENT, B, E> {
    type Cache = DropoutCache<B, E>;

    fn new_cache(dev: &B) -> Self::Cache {
        DropoutCache {
            mask: dev.zeros(0),
            active: false,
        }
    }
    fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
        *out = x.clone();
    }
    fn forward_train_into(&mut self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>, cache: &mut Self::Cache) {
        cache.active = self.training && P_PERCENT > 0;
        if cache.active {
            out.set_batch(x.batch());
            let seed = self.rng.next_u64();
            dropout_forward(
                x.device(),
                Self::P,
                seed,
                x.buf(),
                out.buf_mut(),
                &mut cache.mask,
                x.len(),
            );
        } else {
            out.copy_from(x);
        }
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S, B, E>,
        _out: &Tensor<S, B, E>,
        cache: &mut Self::Cache,
        dy: &Tensor<S, B, E>,
        dx: &mut Tensor<S, B, E>,
    ) {
        if cache.active {
            dx.set_batch(x.batch());
            dropout_backward(x.device(), dy.buf(), &cache.mask, dx.buf_mut(), x.len());
        } else {
            dx.copy_from(dy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use dl_core::{S1, S2};

    #[test]
    fn gradient_check_training_and_eval() {
        let mut rng = Rng::new(3);
        let mut d = Dropout::<30, Cpu, f64>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer(&d, &x, true), 0);
        d.set_training(false);
        check_layer(&d, &x, true);
    }

    #[test]
    fn seeded_masks_differ_per_step_and_repeat_per_seed() {
        let x = Tensor::<S1<64>>::from_vec(&Cpu, 1, vec![1.0; 64]).unwrap();
        let run = |seed| {
            let mut d = Dropout::<50>::init(&Cpu, seed);
            let mut c = <Dropout<50> as Layer<S1<64>, S1<64>, Cpu, f32>>::new_cache(&Cpu);
            let (mut a, mut b) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
            d.forward_train_into(&x, &mut a, &mut c);
            d.forward_train_into(&x, &mut b, &mut c);
            (a.to_vec(), b.to_vec())
        };
        let (a1, b1) = run(1);
        assert_ne!(a1, b1);
        assert_eq!(run(1), (a1, b1));
        assert_ne!(run(2).0, run(1).0);
    }

    #[test]
    fn inference_is_identity_and_p_zero_is_inactive() {
        let mut rng = Rng::new(0);
        let d = Dropout::<90>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<3>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0]).unwrap();
        assert_eq!(d.forward(&x).to_vec(), x.to_vec());
        let mut d0 = Dropout::<0>::init_with(&Cpu, &mut rng);
        let mut c = <Dropout<0> as Layer<S1<3>, S1<3>, Cpu, f32>>::new_cache(&Cpu);
        let mut y = Tensor::empty(&Cpu);
        d0.forward_train_into(&x, &mut y, &mut c);
        assert_eq!(y.to_vec(), x.to_vec());
        assert!(!c.active);
    }

    #[test]
    fn state_dict_is_empty() {
        assert!(state_dict(&Dropout::<50>::init(&Cpu, 0), "drop.").is_empty());
    }
}
