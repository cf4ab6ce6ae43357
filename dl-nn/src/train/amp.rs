//! Mixed precision, CPU side: the per-op [`PrecisionPolicy`] and the
//! dynamic loss scaler [`GradScaler`] (PyTorch's `torch.amp.GradScaler`).
//!
//! Mixed-precision training computes the expensive ops (GEMMs,
//! convolutions) in bf16 or f16, keeps master weights and optimizer state
//! in `f32`, and runs the numerically sensitive ops (softmax, norms,
//! losses, reductions) and every accumulation in `f32`. f16 has a narrow
//! exponent range, so small gradients underflow to zero: the loss is
//! multiplied by a large scale before the backward pass, the gradients are
//! divided by it before the optimizer step, and a step whose gradients
//! overflowed is skipped while the scale backs off.
//!
//! **Status.** The scaler works on every backend (it only scales buffers
//! and checks them for infinities). The policy is applied by
//! [`autocast`] on the CPU backend, which emulates bf16/f16 products with
//! `f32` accumulation (the numerics, not the speed, of a GPU's tensor
//! cores); `FitConfig::mixed_precision` trains with it. The CUDA backend's
//! bf16/f16 kernels are the GPU part of the work (see
//! `docs/mixed-precision.md`).
//!
//! | dl | PyTorch |
//! |---|---|
//! | `GradScaler::new()` | `torch.amp.GradScaler("cuda")` |
//! | `scaler.scale_grad_out(&mut bufs.grad_out)` | `scaler.scale(loss).backward()` (the scaling part) |
//! | `scaler.unscale(&mut model)` | `scaler.unscale_(optimizer)` |
//! | `scaler.step(&mut opt, &mut model)` | `scaler.step(optimizer)` |
//! | `scaler.update()` | `scaler.update()` |
//! | `scaler.state_dict()` / `load_state_dict` | the same |
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::prelude::*;
//! use dl_nn::train::amp::GradScaler;
//! let mut fc = Linear::<1, 1>::init(&Cpu, 0);
//! let mut opt = Sgd::new(0.1);
//! let mut scaler = GradScaler::new();
//! let x = Tensor::<S1<1>>::from_vec(&Cpu, 2, vec![1.0, 2.0]).unwrap();
//! let y = Tensor::<S1<1>>::from_vec(&Cpu, 2, vec![2.0, 4.0]).unwrap();
//! let (mut out, mut dy, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu), Tensor::empty(&Cpu));
//! let mut cache = GemmWorkspace::new(); // Linear's cache: the GEMM's packing memory
//! for _ in 0..3 {
//!     fc.forward_train_into(&x, &mut out, &mut cache);
//!     Mse.loss(&out, &y, &mut dy).unwrap();
//!     scaler.scale_grad_out(&mut dy); // backward of `scale * loss`
//!     fc.zero_grad();
//!     fc.backward_params_into(&x, &out, &mut cache, &dy, &mut dx);
//!     let stepped = scaler.step(&mut opt, &mut fc); // unscales, checks, steps
//!     assert!(stepped);
//!     scaler.update().unwrap();
//! }
//! assert_eq!(scaler.scale(), 65536.0);
//! ```

use crate::module::Module;
use crate::optim::Optimizer;
use dl_core::{Backend, Float, Shape, Tensor};

pub use dl_core::amp::{autocast, Precision};

/// The kind of an op, as far as the precision policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// Matrix products: `Linear`, attention projections and scores.
    Gemm,
    /// Convolutions (forward and backward).
    Conv,
    /// Element-wise activations (ReLU, GELU, tanh, ...): run in the
    /// precision of their input, as in PyTorch's autocast.
    Activation,
    /// Softmax and log-softmax.
    Softmax,
    /// Batch, layer and group normalisation.
    Norm,
    /// Losses.
    Loss,
    /// Sums, means, norms of whole tensors (gradient norms, metrics).
    Reduction,
    /// The optimizer update of master weights and state.
    OptimizerUpdate,
}

impl OpKind {
    /// Every kind, for tables and tests.
    pub const ALL: [OpKind; 8] = [
        OpKind::Gemm,
        OpKind::Conv,
        OpKind::Activation,
        OpKind::Softmax,
        OpKind::Norm,
        OpKind::Loss,
        OpKind::Reduction,
        OpKind::OptimizerUpdate,
    ];
}

/// Which precision each op computes in (PyTorch autocast's lists, reduced
/// to the ops of this framework).
///
/// With a low compute precision, GEMMs, convolutions and activations run
/// in it; softmax, norms, losses, reductions and the optimizer update run
/// in `f32`; every accumulation (inside a GEMM, a convolution or a
/// reduction) is in `f32`; master weights and optimizer state stay `f32`.
///
/// [`autocast`] applies it on the CPU backend: the products (GEMMs and
/// convolutions) run in the low precision; every other op computes in
/// `f32`, an activation on the low-precision output of the product before
/// it (fused into the product it is rounded once, after the activation;
/// for ReLU the two agree). The CUDA kernels that will read it need a GPU.
///
/// ```
/// use dl_nn::train::amp::{OpKind, Precision, PrecisionPolicy};
/// let p = PrecisionPolicy::new(Precision::Bf16);
/// assert_eq!(p.precision_for(OpKind::Gemm), Precision::Bf16);
/// assert_eq!(p.precision_for(OpKind::Softmax), Precision::F32);
/// assert_eq!(p.accumulation(), Precision::F32);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PrecisionPolicy {
    compute: Precision,
}

impl PrecisionPolicy {
    /// The policy for a compute precision ([`Precision::F32`]: everything
    /// in `f32`).
    pub fn new(compute: Precision) -> Self {
        Self { compute }
    }

    /// The low precision GEMMs and convolutions use.
    pub fn compute(&self) -> Precision {
        self.compute
    }

    /// The precision `op` computes in.
    pub fn precision_for(&self, op: OpKind) -> Precision {
        match op {
            OpKind::Gemm | OpKind::Conv | OpKind::Activation => self.compute,
            OpKind::Softmax | OpKind::Norm | OpKind::Loss | OpKind::Reduction | OpKind::OptimizerUpdate => {
                Precision::F32
            }
        }
    }

    /// The precision of accumulators (GEMM, convolution and reduction
    /// sums): always `f32`.
    pub fn accumulation(&self) -> Precision {
        Precision::F32
    }

    /// The precision of master weights and optimizer state: always `f32`.
    pub fn master_weights(&self) -> Precision {
        Precision::F32
    }

    /// Whether training at this policy needs a [`GradScaler`].
    pub fn needs_loss_scaling(&self) -> bool {
        self.compute.needs_loss_scaling()
    }

    /// The scaler that goes with this policy: PyTorch's defaults for f16,
    /// a disabled (pass-through) one otherwise.
    pub fn grad_scaler(&self) -> GradScaler {
        if self.needs_loss_scaling() {
            GradScaler::new()
        } else {
            GradScaler::disabled()
        }
    }
}

/// A bad argument or state for the mixed-precision types.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AmpError {
    /// A hyperparameter or a parsed value out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// [`GradScaler::update`] was called without an inf check
    /// ([`GradScaler::unscale`] or [`GradScaler::step`]) since the last update.
    #[error("GradScaler::update called with no inf check recorded since the last update (call unscale or step first)")]
    NoInfCheck,
    /// A state dict to load lacks an entry or holds a bad value.
    #[error("bad GradScaler state: {0}")]
    BadState(String),
}

/// PyTorch's default initial scale, 2^16.
pub const DEFAULT_INIT_SCALE: f64 = 65536.0;
/// PyTorch's default growth factor.
pub const DEFAULT_GROWTH_FACTOR: f64 = 2.0;
/// PyTorch's default backoff factor.
pub const DEFAULT_BACKOFF_FACTOR: f64 = 0.5;
/// PyTorch's default growth interval (consecutive finite steps).
pub const DEFAULT_GROWTH_INTERVAL: u64 = 2000;

/// The dynamic loss scaler of f16 training (PyTorch's `GradScaler`).
///
/// Each step: scale the loss gradient ([`GradScaler::scale_grad_out`]),
/// run backward, then [`GradScaler::step`] divides the gradients by the
/// scale and steps the optimizer only when they are all finite, and
/// [`GradScaler::update`] adjusts the scale: `x backoff_factor` after a
/// step with an infinity or NaN (the step is skipped), `x growth_factor`
/// after `growth_interval` finite steps in a row. The scale is a power of
/// two with the defaults, so scaling and unscaling are exact.
#[derive(Clone, Debug, PartialEq)]
pub struct GradScaler {
    scale: f64,
    growth_factor: f64,
    backoff_factor: f64,
    growth_interval: u64,
    growth_tracker: u64,
    enabled: bool,
    /// The result of this step's inf check: `Some(true)` when an infinity
    /// or NaN was found.
    found_inf: Option<bool>,
    skipped: u64,
}

impl Default for GradScaler {
    fn default() -> Self {
        Self::new()
    }
}

impl GradScaler {
    /// PyTorch's defaults: scale 2^16, x2 after 2000 finite steps in a row,
    /// x0.5 and a skipped step on an infinity or NaN.
    pub fn new() -> Self {
        Self {
            scale: DEFAULT_INIT_SCALE,
            growth_factor: DEFAULT_GROWTH_FACTOR,
            backoff_factor: DEFAULT_BACKOFF_FACTOR,
            growth_interval: DEFAULT_GROWTH_INTERVAL,
            growth_tracker: 0,
            enabled: true,
            found_inf: None,
            skipped: 0,
        }
    }

    /// A pass-through scaler (PyTorch's `GradScaler(enabled=False)`, for
    /// f32 and bf16): scale 1, [`GradScaler::step`] always steps, nothing is
    /// checked and [`GradScaler::update`] does nothing.
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            scale: 1.0,
            ..Self::new()
        }
    }

    /// A scaler with other hyperparameters.
    ///
    /// # Errors
    /// [`AmpError::InvalidArgument`] unless `init_scale` is finite and
    /// positive, `growth_factor > 1`, `0 < backoff_factor < 1` and
    /// `growth_interval >= 1` (PyTorch's checks).
    pub fn with_config(
        init_scale: f64,
        growth_factor: f64,
        backoff_factor: f64,
        growth_interval: u64,
    ) -> Result<Self, AmpError> {
        check_config(init_scale, growth_factor, backoff_factor, growth_interval)?;
        Ok(Self {
            scale: init_scale,
            growth_factor,
            backoff_factor,
            growth_interval,
            ..Self::new()
        })
    }

    /// Whether scaling is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The current scale (1 when disabled).
    pub fn scale(&self) -> f64 {
        if self.enabled {
            self.scale
        } else {
            1.0
        }
    }

    /// Finite steps in a row since the last growth or backoff.
    pub fn growth_tracker(&self) -> u64 {
        self.growth_tracker
    }

    /// Steps skipped because of an infinity or NaN so far.
    pub fn skipped_steps(&self) -> u64 {
        self.skipped
    }

    /// `loss * scale` (for logging or a loss that is differentiated
    /// elsewhere).
    pub fn scale_loss(&self, loss: f64) -> f64 {
        loss * self.scale()
    }

    /// Multiplies the loss gradient `d loss / d out` by the scale: the
    /// backward pass then computes the gradients of `scale * loss`
    /// (PyTorch's `scaler.scale(loss).backward()`).
    pub fn scale_grad_out<S: Shape, B: Backend, E: Float>(&self, grad_out: &mut Tensor<S, B, E>) {
        if self.enabled {
            let dev = grad_out.device().clone();
            dev.scale(grad_out.buf_mut(), self.scale);
        }
    }

    /// Divides the gradient of every trainable parameter of `model` by the
    /// scale, in place, and checks them: returns `true` when every one is
    /// finite. The result is recorded for [`GradScaler::step`] (which will
    /// not unscale again) and [`GradScaler::update`]. Call it before
    /// gradient clipping (PyTorch's `scaler.unscale_(optimizer)`).
    /// Disabled: does nothing and returns `true`.
    pub fn unscale<B: Backend, E: Float, M: Module<B, E>>(&mut self, model: &mut M) -> bool {
        if !self.enabled {
            return true;
        }
        if let Some(found) = self.found_inf {
            return !found;
        }
        // PyTorch computes the inverse in double and rounds it to f32.
        let inv = (1.0 / self.scale) as f32 as f64;
        let mut finite = true;
        model.for_each_param(&mut |p| {
            if !p.is_trainable() || p.numel() == 0 {
                return;
            }
            p.dev.scale(&mut p.grad, inv);
            if finite {
                finite = grads_finite(&p.dev, &p.grad);
            }
        });
        self.found_inf = Some(!finite);
        finite
    }

    /// Unscales the gradients (unless [`GradScaler::unscale`] already did
    /// this step) and steps `opt` when they are all finite. Returns whether
    /// the optimizer stepped; a skipped step leaves the parameters and the
    /// optimizer state unchanged (PyTorch's `scaler.step(optimizer)`).
    pub fn step<B: Backend, E: Float, M: Module<B, E>, O: Optimizer<B, E>>(
        &mut self,
        opt: &mut O,
        model: &mut M,
    ) -> bool {
        if !self.enabled {
            opt.step(model);
            return true;
        }
        if self.unscale(model) {
            opt.step(model);
            true
        } else {
            self.skipped += 1;
            false
        }
    }

    /// Updates the scale from this step's inf check: `x backoff_factor`
    /// (and the growth count restarts) when an infinity or NaN was found,
    /// otherwise one more finite step, and `x growth_factor` once
    /// `growth_interval` have passed in a row. As in PyTorch, the scale
    /// does not grow past the largest finite `f32`. Disabled: does nothing.
    ///
    /// # Errors
    /// [`AmpError::NoInfCheck`] when neither [`GradScaler::unscale`] nor
    /// [`GradScaler::step`] ran since the last update.
    pub fn update(&mut self) -> Result<(), AmpError> {
        if !self.enabled {
            return Ok(());
        }
        let found = self.found_inf.take().ok_or(AmpError::NoInfCheck)?;
        if found {
            self.scale *= self.backoff_factor;
            self.growth_tracker = 0;
        } else {
            self.growth_tracker += 1;
            if self.growth_tracker >= self.growth_interval {
                let grown = self.scale * self.growth_factor;
                if (grown as f32).is_finite() {
                    self.scale = grown;
                }
                self.growth_tracker = 0;
            }
        }
        Ok(())
    }

    /// The state for a checkpoint, under PyTorch's `GradScaler.state_dict`
    /// names (`scale`, `growth_factor`, `backoff_factor`,
    /// `growth_interval`, `_growth_tracker`), as `(name, shape, values)`
    /// like [`Optimizer::state_dict`]. Empty when disabled, as in PyTorch.
    pub fn state_dict(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        if !self.enabled {
            return Vec::new();
        }
        [
            ("scale", self.scale),
            ("growth_factor", self.growth_factor),
            ("backoff_factor", self.backoff_factor),
            ("growth_interval", self.growth_interval as f64),
            ("_growth_tracker", self.growth_tracker as f64),
        ]
        .into_iter()
        .map(|(n, v)| (n.to_string(), Vec::new(), vec![v]))
        .collect()
    }

    /// Restores a state written by [`GradScaler::state_dict`] (and
    /// enables the scaler). The pending inf check is cleared.
    ///
    /// # Errors
    /// [`AmpError::BadState`] naming a missing entry, an entry that is not
    /// one value, or values [`GradScaler::with_config`] would refuse; the
    /// scaler is then unchanged.
    pub fn load_state_dict(&mut self, state: &[(String, Vec<usize>, Vec<f64>)]) -> Result<(), AmpError> {
        let get = |name: &str| -> Result<f64, AmpError> {
            let (_, _, v) = state
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| AmpError::BadState(format!("missing {name:?}")))?;
            match v.as_slice() {
                [x] => Ok(*x),
                _ => Err(AmpError::BadState(format!(
                    "{name:?} holds {} values, expected 1",
                    v.len()
                ))),
            }
        };
        let count = |name: &str| -> Result<u64, AmpError> {
            let x = get(name)?;
            if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 {
                Ok(x as u64)
            } else {
                Err(AmpError::BadState(format!("{name:?} = {x} is not a count")))
            }
        };
        let (scale, growth, backoff) = (get("scale")?, get("growth_factor")?, get("backoff_factor")?);
        let (interval, tracker) = (count("growth_interval")?, count("_growth_tracker")?);
        check_config(scale, growth, backoff, interval).map_err(|e| AmpError::BadState(e.to_string()))?;
        *self = Self {
            scale,
            growth_factor: growth,
            backoff_factor: backoff,
            growth_interval: interval,
            growth_tracker: tracker,
            enabled: true,
            found_inf: None,
            skipped: self.skipped,
        };
        Ok(())
    }
}

fn check_config(init_scale: f64, growth: f64, backoff: f64, interval: u64) -> Result<(), AmpError> {
    let bad = |m: String| Err(AmpError::InvalidArgument(m));
    if !(init_scale.is_finite() && init_scale > 0.0) {
        return bad(format!("scale must be finite and > 0, got {init_scale}"));
    }
    if !(growth.is_finite() && growth > 1.0) {
        return bad(format!("growth_factor must be > 1, got {growth}"));
    }
    if !(backoff > 0.0 && backoff < 1.0) {
        return bad(format!("backoff_factor must be in (0, 1), got {backoff}"));
    }
    if interval == 0 {
        return bad("growth_interval must be >= 1".to_string());
    }
    Ok(())
}

/// Whether a buffer holds only finite values. `sum |x|` in `f64` is
/// computed on the device (one value read back); it is infinite or NaN
/// exactly when an element is, unless finite `f64` elements overflow the
/// sum, and only then is the buffer read in full.
fn grads_finite<B: Backend, E: Float>(dev: &B, g: &B::Buf<E>) -> bool {
    let s = dev.sum_abs(g);
    if s.is_finite() {
        return true;
    }
    if s.is_nan() {
        return false;
    }
    dev.to_vec(g).iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests;
