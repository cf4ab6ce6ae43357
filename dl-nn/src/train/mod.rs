//! Training: the Keras-style [`Fit`] API (`fit`, `evaluate`, `predict`),
//! [`History`], callbacks, progress reporting, plots, and a PyTorch-style
//! [`train_step`] helper.
//!
//! The framework owns the epochs, the metrics, early stopping and
//! checkpointing (the burn-train split); the network only provides the
//! [`Layer`] methods. Every buffer (input batch, output, cache, gradients)
//! is allocated once per call and reused at every step.
//!
//! 1. Build a configuration: optimizer, loss, epochs, batch size, optional
//!    validation set, callbacks ([`FitConfig`]).
//! 2. `model.fit(&train, config)?` trains and returns a [`History`] of
//!    per-epoch loss, accuracy, learning rate and throughput.
//! 3. `model.evaluate(&test, &loss, 256)?` gives an [`Evaluation`];
//!    `model.predict(&data, 256)?` gives [`Predictions`].
//! 4. `history.plot_png("curves.png")?` draws the curves; `write_csv` and
//!    `write_json` save the figures.
//!
//! | dl | Keras |
//! |---|---|
//! | `model.fit(&train, FitConfig::new(opt, loss).epochs(5).validation(&test))` | `model.fit(x, y, epochs=5, validation_data=..)` |
//! | [`EarlyStopping`]`::new(Monitor::ValLoss).patience(3)` | `EarlyStopping(monitor="val_loss", patience=3)` |
//! | [`ModelCheckpoint`]`::new(Monitor::ValAccuracy).restore_best(true)` | `ModelCheckpoint(save_best_only=True)` + `restore_best_weights` |
//! | [`LrScheduler`]`::new(\|epoch\| ..)` | `LearningRateScheduler(schedule)` |
//! | `.on_non_finite(NonFinite::Error)` (default) | `TerminateOnNaN` |

pub mod amp;
mod callbacks;
mod distributed;
mod error;
mod fit;
mod guard;
mod history;
pub mod metrics;
#[cfg(feature = "plot")]
mod plot;
mod progress;
mod target;
#[cfg(test)]
mod target_tests;
mod teacher;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

pub use callbacks::{Callback, CallbackContext, Control, EarlyStopping, LrScheduler, ModelCheckpoint, Monitor};
pub use distributed::{GradSync, Parameters};
pub use error::{FaultSource, TrainError};
pub use fit::{
    device_of, evaluate_layer, fit_layer, predict_layer, Evaluation, Fit, FitConfig, NonFinite, Predictions,
};
pub use guard::{NonFiniteGuard, DEFAULT_MAX_CONSECUTIVE_SKIPS};
pub use history::{EpochRecord, History, HistoryTable};
pub use metrics::{Metric, MetricValues};
pub use progress::{epoch_line, Progress};
pub use target::{FitTarget, FloatBatch, Tally};
pub use teacher::{NoTeacher, Teacher, TeacherScratch, Teaching};

use crate::loss::Loss;
use crate::module::Layer;
use crate::optim::Optimizer;
use dl_core::{Backend, Float, Shape, Tensor};

/// The buffers of one training step of a layer `L: Layer<In, Out>`: its
/// output, its cache, the gradient of the loss with respect to the output
/// and the input gradient that `backward` writes. Create once, reuse for
/// every step: after the first step of the largest batch nothing is
/// allocated.
pub struct StepBuffers<In: Shape, Out: Shape, L: Layer<In, Out, B, E>, B: Backend, E: Float> {
    /// The forward output (logits for a classifier).
    pub out: Tensor<Out, B, E>,
    /// The layer's cache.
    pub cache: L::Cache,
    /// `d loss / d out`, written by the loss.
    pub grad_out: Tensor<Out, B, E>,
    /// Scratch for the input gradient (`train_step` and `fit` call
    /// [`Layer::backward_params_into`]: the input is data, its gradient is not kept).
    pub grad_in: Tensor<In, B, E>,
}

impl<In: Shape, Out: Shape, L: Layer<In, Out, B, E>, B: Backend, E: Float> StepBuffers<In, Out, L, B, E> {
    /// Empty buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            out: Tensor::empty(dev),
            cache: L::new_cache(dev),
            grad_out: Tensor::empty(dev),
            grad_in: Tensor::empty(dev),
        }
    }
}

/// One PyTorch-style training step of any [`Layer`]: `forward_train`, the
/// loss and its gradient, `zero_grad`, `backward`, `opt.step`. Returns the
/// batch loss (not checked for finiteness: `fit` does that).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// use dl_nn::train::{train_step, StepBuffers};
/// // Fit y = 2x with a one-weight linear layer.
/// let mut fc = Linear::<1, 1>::init(&Cpu, 0);
/// let mut bufs = StepBuffers::new(&Cpu);
/// let mut opt = Sgd::new(0.1);
/// let x = Tensor::<S1<1>>::from_vec(&Cpu, 4, vec![-1.0, 0.0, 1.0, 2.0]).unwrap();
/// let y = Tensor::<S1<1>>::from_vec(&Cpu, 4, vec![-2.0, 0.0, 2.0, 4.0]).unwrap();
/// let first = train_step(&mut fc, &mut bufs, &x, &y, &Mse, &mut opt).unwrap();
/// let mut last = first;
/// for _ in 0..100 {
///     last = train_step(&mut fc, &mut bufs, &x, &y, &Mse, &mut opt).unwrap();
/// }
/// assert!(last < 1e-3 * first);
/// ```
///
/// # Errors
/// The loss's error (a label out of range, a batch-size mismatch).
pub fn train_step<In, Out, L, Lo, O, B, E>(
    layer: &mut L,
    bufs: &mut StepBuffers<In, Out, L, B, E>,
    x: &Tensor<In, B, E>,
    target: &Lo::Target,
    loss: &Lo,
    opt: &mut O,
) -> Result<E, TrainError>
where
    In: Shape,
    Out: Shape,
    L: Layer<In, Out, B, E>,
    Lo: Loss<Out, B, E>,
    O: Optimizer<B, E>,
    B: Backend,
    E: Float,
{
    layer.forward_train_into(x, &mut bufs.out, &mut bufs.cache);
    let l = loss.loss(&bufs.out, target, &mut bufs.grad_out)?;
    layer.zero_grad();
    layer.backward_params_into(x, &bufs.out, &mut bufs.cache, &bufs.grad_out, &mut bufs.grad_in);
    opt.step(layer);
    Ok(l)
}
