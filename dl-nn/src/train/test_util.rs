//! Test-only pieces for the training tests: a hand-written MLP network
//! (what `#[network]` would generate), cross-entropy with injected faults,
//! and a synthetic, separable data set.

use crate::data::Dataset;
use crate::layers::{Linear, ReLU};
use crate::loss::{CrossEntropy, Loss};
use crate::module::{Layer, Module, Network, OutputShape};
use crate::summary::Summary;
use dl_core::{Backend, Cpu, Float, GemmWorkspace, Rng, Tensor, S1};
use std::cell::Cell;

/// `Linear<I, H> -> A -> Linear<H, C>` (`A` an activation: ReLU, or a
/// smooth one for gradient checks), counting forward passes per mode.
#[derive(Clone, Debug, Module)]
#[module(crate = crate)]
pub(crate) struct Mlp<const I: usize, const H: usize, const C: usize, B: Backend = Cpu, E: Float = f32, A = ReLU<B, E>>
{
    pub fc1: Linear<I, H, B, E>,
    pub act: A,
    pub fc2: Linear<H, C, B, E>,
    #[training]
    pub training: bool,
    #[skip]
    pub train_calls: usize,
    #[skip]
    pub eval_calls: usize,
    // Gradient scratch of the hidden activations (backward has `&mut self`).
    #[skip(init = Tensor::empty(dev))]
    da: Tensor<S1<H>, B, E>,
    #[skip(init = Tensor::empty(dev))]
    dh: Tensor<S1<H>, B, E>,
}

#[derive(Debug)]
pub(crate) struct MlpCache<const H: usize, B: Backend, E: Float> {
    h: Tensor<S1<H>, B, E>,
    a: Tensor<S1<H>, B, E>,
    fc1: GemmWorkspace,
    fc2: GemmWorkspace,
}

impl<const I: usize, const H: usize, const C: usize, B: Backend, E: Float, A> OutputShape<S1<I>>
    for Mlp<I, H, C, B, E, A>
{
    type Out = S1<C>;
}

impl<const I: usize, const H: usize, const C: usize, B: Backend, E: Float, A> Layer<S1<I>, S1<C>, B, E>
    for Mlp<I, H, C, B, E, A>
where
    A: Layer<S1<H>, S1<H>, B, E, Cache = ()>,
{
    type Cache = MlpCache<H, B, E>;
    fn new_cache(dev: &B) -> Self::Cache {
        MlpCache {
            h: Tensor::empty(dev),
            a: Tensor::empty(dev),
            fc1: GemmWorkspace::new(),
            fc2: GemmWorkspace::new(),
        }
    }
    fn forward_into(&self, x: &Tensor<S1<I>, B, E>, out: &mut Tensor<S1<C>, B, E>) {
        *out = self.fc2.forward(&self.act.forward(&self.fc1.forward(x)));
    }
    fn forward_train_into(&mut self, x: &Tensor<S1<I>, B, E>, out: &mut Tensor<S1<C>, B, E>, c: &mut Self::Cache) {
        if self.training {
            self.train_calls += 1;
        } else {
            self.eval_calls += 1;
        }
        self.fc1.forward_train_into(x, &mut c.h, &mut c.fc1);
        self.act.forward_train_into(&c.h, &mut c.a, &mut ());
        self.fc2.forward_train_into(&c.a, out, &mut c.fc2);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S1<I>, B, E>,
        out: &Tensor<S1<C>, B, E>,
        c: &mut Self::Cache,
        dy: &Tensor<S1<C>, B, E>,
        dx: &mut Tensor<S1<I>, B, E>,
    ) {
        self.fc2.backward_into(&c.a, out, &mut c.fc2, dy, &mut self.da);
        self.act.backward_into(&c.h, &c.a, &mut (), &self.da, &mut self.dh);
        self.fc1.backward_into(x, &c.h, &mut c.fc1, &self.dh, dx);
    }
}

impl<const I: usize, const H: usize, const C: usize, B: Backend, E: Float, A> Network<B, E> for Mlp<I, H, C, B, E, A>
where
    A: Layer<S1<H>, S1<H>, B, E, Cache = ()>,
{
    type Input = S1<I>;
    type Output = S1<C>;
    fn summary() -> &'static Summary {
        &Summary {
            name: "Mlp",
            input_shape: &[],
            layers: &[],
            total_params: 0,
        }
    }
}

/// The real [`CrossEntropy`], with faults injected for the non-finite tests:
/// `nan_loss_at` / `nan_grad_at` are the call index (0-based) at which the
/// loss, or one element of its gradient, is made NaN.
#[derive(Default)]
pub(crate) struct Ce {
    pub nan_loss_at: Option<usize>,
    pub nan_grad_at: Option<usize>,
    /// Every call from this index on gets a NaN gradient element.
    pub nan_grad_from: Option<usize>,
    /// At this call the "device" fails (a device-fault unwind, as a CUDA
    /// out-of-memory error gives).
    pub device_fault_at: Option<usize>,
    pub calls: Cell<usize>,
}

impl Ce {
    setters! {
        /// Makes the loss NaN at this call.
        nan_loss_at: Option<usize>,
        /// Makes one gradient element NaN at this call.
        nan_grad_at: Option<usize>,
        /// Makes one gradient element NaN at every call from this one on.
        nan_grad_from: Option<usize>,
        /// Fails the "device" at this call.
        device_fault_at: Option<usize>,
    }
}

impl<const C: usize, B: Backend, E: Float> Loss<S1<C>, B, E> for Ce {
    type Target = [usize];
    fn loss(&self, pred: &Tensor<S1<C>, B, E>, target: &[usize], grad: &mut Tensor<S1<C>, B, E>) -> dl_core::Result<E> {
        let call = self.calls.get();
        self.calls.set(call + 1);
        if self.device_fault_at == Some(call) {
            panic!(
                "{}cuda:0: CUDA error in zeros: out of GPU memory",
                dl_core::fault::DEVICE_FAULT_PREFIX
            );
        }
        let l = CrossEntropy::new().loss(pred, target, grad)?;
        if self.nan_grad_at == Some(call) || self.nan_grad_from.is_some_and(|f| call >= f) {
            let mut g = grad.to_vec();
            g[0] = E::from_f64(f64::NAN);
            let dev = grad.device().clone();
            dev.write(grad.buf_mut(), &g);
        }
        Ok(if self.nan_loss_at == Some(call) {
            E::from_f64(f64::NAN)
        } else {
            l
        })
    }
}

/// Gaussian blobs: `classes` well-separated centres in `dim` dimensions.
pub(crate) struct Blobs {
    pub x: Vec<f32>,
    pub y: Vec<usize>,
    pub dim: usize,
    pub classes: usize,
}

impl Blobs {
    pub(crate) fn new(n: usize, dim: usize, classes: usize, spread: f64, seed: u64) -> Self {
        // The centres depend only on the dimensions, so train and test sets
        // drawn with different seeds share them.
        let mut crng = Rng::new(1234);
        let centres: Vec<f64> = (0..classes * dim).map(|_| 2.0 * crng.normal()).collect();
        let mut rng = Rng::new(seed);
        let mut x = Vec::with_capacity(n * dim);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % classes;
            y.push(c);
            for d in 0..dim {
                x.push((centres[c * dim + d] + spread * rng.normal()) as f32);
            }
        }
        Self { x, y, dim, classes }
    }
}

impl Dataset for Blobs {
    fn len(&self) -> usize {
        self.y.len()
    }
    fn sample_len(&self) -> usize {
        self.dim
    }
    fn num_classes(&self) -> usize {
        self.classes
    }
    fn get(&self, i: usize, out: &mut [f32]) -> usize {
        out.copy_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        self.y[i]
    }
}
