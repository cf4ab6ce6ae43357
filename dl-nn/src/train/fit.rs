//! Keras-style training: [`Fit::fit`], [`Fit::evaluate`], [`Fit::predict`].
//!
//! The loop drives the network through the [`Layer`] methods with
//! caller-owned buffers (output, cache, gradients) allocated once per call
//! and reused at every step; batches come from a [`DataLoader`], which
//! prepares the next one on a background thread.

use super::amp::{autocast, GradScaler, Precision};
use super::callbacks::{Callback, CallbackContext, Control};
use super::distributed::{Bridge, GradSync, SyncModel};
use super::error::TrainError;
use super::guard::NonFiniteGuard;
use super::history::{EpochRecord, History};
use super::metrics::{Metric, MetricValues};
use super::progress::{Progress, Reporter};
use super::target::{FitTarget, Tally};
use super::teacher::{NoTeacher, Teacher, Teaching};
use super::StepBuffers;
use crate::data::{Batch, DataLoader, Dataset};
use crate::loss::Loss;
use crate::module::{Layer, Module, Network};
use crate::optim::Optimizer;
use dl_core::{Backend, Float, Shape, Tensor};
use std::sync::Arc;
use std::time::Instant;

/// What `fit` does when a batch's loss or a parameter's gradient holds a
/// NaN or an infinity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NonFinite {
    /// Stop with [`TrainError::NonFinite`] naming the epoch, the step and
    /// the loss or the first parameter (by `state_dict` name) at fault.
    #[default]
    Error,
    /// Skip the step: no optimizer update, gradients zeroed; the skipped
    /// steps are counted in [`EpochRecord::skipped_steps`] and left out of
    /// the epoch's loss and accuracy.
    SkipStep,
    /// Do not check (saves one small reduction per parameter per step).
    Ignore,
}

/// The settings of a [`Fit::fit`] run: optimizer, loss, epochs, batch size,
/// validation set, shuffling, callbacks, progress and non-finite handling,
/// and optionally a teacher to distil from ([`FitConfig::teacher`]).
///
/// Defaults: 1 epoch, batch size 32, shuffled with seed 0 (a fresh
/// permutation each epoch, the same for the same seed), no validation, no
/// callback, [`Progress::Auto`], [`NonFinite::Error`], no teacher.
///
/// `N` is the model type (callbacks see it); it is inferred from the call.
/// `T` is the teacher slot: [`NoTeacher`], or [`Teacher`] after
/// [`FitConfig::teacher`].
pub struct FitConfig<'a, N, O, L, T = NoTeacher> {
    optimizer: O,
    loss: L,
    epochs: usize,
    batch_size: usize,
    validation: Option<Arc<dyn Dataset>>,
    validation_batch_size: Option<usize>,
    shuffle: Option<u64>,
    drop_last: bool,
    callbacks: Vec<Box<dyn Callback<N> + 'a>>,
    progress: Progress,
    quiet: bool,
    non_finite: NonFinite,
    max_consecutive_skips: usize,
    dist: Option<Box<dyn SyncModel<N> + 'a>>,
    precision: Precision,
    teacher: T,
}

impl<'a, N, O, L> FitConfig<'a, N, O, L> {
    /// A configuration with the defaults above.
    pub fn new(optimizer: O, loss: L) -> Self {
        Self {
            optimizer,
            loss,
            epochs: 1,
            batch_size: 32,
            validation: None,
            validation_batch_size: None,
            shuffle: Some(0),
            drop_last: false,
            callbacks: Vec::new(),
            progress: Progress::Auto,
            quiet: false,
            non_finite: NonFinite::Error,
            max_consecutive_skips: super::guard::DEFAULT_MAX_CONSECUTIVE_SKIPS,
            dist: None,
            precision: Precision::F32,
            teacher: NoTeacher,
        }
    }

    /// Distils from a frozen `teacher` (knowledge distillation, Hinton et
    /// al.): at every step the teacher runs its inference forward pass on
    /// the same (augmented) batch, and the loss becomes
    /// `(1 - alpha) loss + alpha T^2 KL(softmax(teacher / T) || softmax(student / T))`,
    /// which with [`CrossEntropy`](crate::loss::CrossEntropy) is
    /// [`Distillation`](crate::loss::Distillation). The teacher never
    /// trains (evaluation mode, no gradient, no optimizer step); it must
    /// take the student's input and produce its output shape. Validation
    /// measures the student on the loss alone. The temperature (finite,
    /// positive) and `alpha` (in `[0, 1]`) are checked when `fit` starts.
    ///
    /// ```no_run
    /// # use dl_core::prelude::*;
    /// # use dl_nn::prelude::*;
    /// # use dl_nn::loss::CrossEntropy;
    /// # use dl_nn::train::*;
    /// # use std::sync::Arc;
    /// # fn demo<S: Network<Cpu, f32, Input = S1<784>, Output = S1<10>>, T: Network<Cpu, f32, Input = S1<784>, Output = S1<10>>,
    /// #     D: Dataset + 'static>(student: &mut S, teacher: &mut T, train: Arc<D>) -> Result<(), TrainError> {
    /// let history = student.fit(
    ///     &train,
    ///     FitConfig::new(Adam::new(1e-3), CrossEntropy::new())
    ///         .epochs(5)
    ///         .teacher(teacher, 4.0, 0.7),
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn teacher<M>(
        self,
        teacher: &'a mut M,
        temperature: f64,
        alpha: f64,
    ) -> FitConfig<'a, N, O, L, Teacher<'a, M>> {
        FitConfig {
            optimizer: self.optimizer,
            loss: self.loss,
            epochs: self.epochs,
            batch_size: self.batch_size,
            validation: self.validation,
            validation_batch_size: self.validation_batch_size,
            shuffle: self.shuffle,
            drop_last: self.drop_last,
            callbacks: self.callbacks,
            progress: self.progress,
            quiet: self.quiet,
            non_finite: self.non_finite,
            max_consecutive_skips: self.max_consecutive_skips,
            dist: self.dist,
            precision: self.precision,
            teacher: Teacher::new(teacher, temperature, alpha),
        }
    }
}

impl<'a, N, O, L, T> FitConfig<'a, N, O, L, T> {
    setters! {
        /// Number of passes over the training set (0: `fit` returns an empty history).
        epochs: usize,
        /// Samples per training step (must be at least 1).
        batch_size: usize,
    }
    /// Evaluates on `data` at the end of every epoch (validation loss and accuracy).
    pub fn validation<D: Dataset + 'static>(mut self, data: &Arc<D>) -> Self {
        let d: Arc<dyn Dataset> = data.clone();
        self.validation = Some(d);
        self
    }
    /// Batch size of the validation pass (default: the training batch size).
    pub fn validation_batch_size(mut self, batch_size: usize) -> Self {
        self.validation_batch_size = Some(batch_size);
        self
    }
    /// Shuffles the training set every epoch, from `seed`.
    pub fn shuffle_seed(mut self, seed: u64) -> Self {
        self.shuffle = Some(seed);
        self
    }
    /// Visits the training set in order every epoch.
    pub fn no_shuffle(mut self) -> Self {
        self.shuffle = None;
        self
    }
    setters! {
        /// Whether to leave out the last, smaller batch of each epoch.
        drop_last: bool,
    }
    /// Adds a callback (run in the order added). Pass `&mut cb` to keep it
    /// and read its state after `fit`.
    pub fn callback(mut self, callback: impl Callback<N> + 'a) -> Self {
        self.callbacks.push(Box::new(callback));
        self
    }
    setters! {
        /// Where progress goes (default [`Progress::Auto`]).
        progress: Progress,
        /// `true`: print nothing, whatever the progress sink.
        quiet: bool,
    }
    /// What to do on a NaN or infinite loss or gradient (default [`NonFinite::Error`]).
    pub fn on_non_finite(mut self, mode: NonFinite) -> Self {
        self.non_finite = mode;
        self
    }
    /// Mixed precision (PyTorch's `torch.autocast` with a `GradScaler`):
    /// the forward and backward passes (and validation) run in an
    /// [`autocast`] scope of `precision`, so the matrix products compute in
    /// bf16 or f16 with `f32` accumulation, while the parameters, their
    /// gradients, the optimizer state, the loss and the non-finite checks
    /// stay `f32`. With [`Precision::F16`] a [`GradScaler`] with PyTorch's
    /// defaults scales the loss gradient and skips (and backs off on) a
    /// step whose gradients overflow. Default [`Precision::F32`].
    ///
    /// The CPU backend emulates the low-precision products (the numerics
    /// of tensor cores, at `f32` speed); the CUDA backend runs them on the
    /// tensor cores (not yet run on a GPU: see `docs/mixed-precision.md`).
    /// `fit` refuses a low precision on another backend, and for an `f64`
    /// model, with [`TrainError::InvalidConfig`].
    ///
    /// ```no_run
    /// # use dl_core::prelude::*;
    /// # use dl_nn::prelude::*;
    /// # use dl_nn::loss::CrossEntropy;
    /// # use dl_nn::train::*;
    /// # use dl_nn::train::amp::Precision;
    /// # use std::sync::Arc;
    /// # fn demo<S: Network<Cpu, f32, Input = S1<784>, Output = S1<10>>, D: Dataset + 'static>(model: &mut S, train: Arc<D>) -> Result<(), TrainError> {
    /// let history = model.fit(
    ///     &train,
    ///     FitConfig::new(Adam::new(1e-3), CrossEntropy::new()).mixed_precision(Precision::Bf16),
    /// )?;
    /// # Ok(()) }
    /// ```
    pub fn mixed_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }
    /// With [`NonFinite::SkipStep`], how many steps in a row may be skipped
    /// before `fit` stops with [`TrainError::TooManySkippedSteps`] (default
    /// [`super::DEFAULT_MAX_CONSECUTIVE_SKIPS`]; at least 1).
    pub fn max_consecutive_skips(mut self, n: usize) -> Self {
        self.max_consecutive_skips = n.max(1);
        self
    }
    /// Trains data-parallel over the ranks of `sync` (such as `dl-dist`'s
    /// `DataParallel`): parameters broadcast from rank 0, this rank's shard
    /// of each epoch, `batch_size` samples per rank and step, gradients
    /// averaged after each backward pass, epoch figures summed over the
    /// ranks, printing and checkpoint files on rank 0 only. See
    /// [`GradSync`].
    pub fn distributed<B: Backend, E: Float>(mut self, sync: &'a mut dyn GradSync<B, E>) -> Self
    where
        N: crate::module::Module<B, E>,
    {
        self.dist = Some(Box::new(Bridge(sync)));
        self
    }
    /// The optimizer (its state after a [`Fit::fit_mut`] run, for checkpoints).
    pub fn optimizer(&self) -> &O {
        &self.optimizer
    }
    /// The optimizer, mutable.
    pub fn optimizer_mut(&mut self) -> &mut O {
        &mut self.optimizer
    }
    /// The optimizer, by value.
    pub fn into_optimizer(self) -> O {
        self.optimizer
    }
    /// The loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }
}

/// Loss and accuracy (class labels) or metrics (float targets) of a model
/// on a data set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// Mean loss per sample.
    pub loss: f64,
    /// Fraction of samples whose arg-max output equals the label (NaN for
    /// a loss on float targets: see `metrics`).
    pub accuracy: f64,
    /// Samples evaluated.
    pub samples: usize,
    /// The loss's float-target metrics (MSE, MAE, R², binary accuracy);
    /// empty for class labels.
    pub metrics: MetricValues,
}

impl std::fmt::Display for Evaluation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.metrics.is_empty() && !self.accuracy.is_nan() {
            write!(
                f,
                "loss {:.4} - accuracy {:.2}% ({} samples)",
                self.loss,
                100.0 * self.accuracy,
                self.samples
            )
        } else if self.metrics.is_empty() {
            write!(f, "loss {:.4} ({} samples)", self.loss, self.samples)
        } else {
            write!(f, "loss {:.4} - {} ({} samples)", self.loss, self.metrics, self.samples)
        }
    }
}

/// What [`Fit::predict`] returns: for every sample its arg-max class and
/// its raw outputs (logits for a classifier).
#[derive(Clone, Debug, PartialEq)]
pub struct Predictions<E> {
    /// Arg-max output index per sample (the first maximum on ties).
    pub classes: Vec<usize>,
    /// All outputs, `[samples, outputs_per_sample]` row-major.
    pub outputs: Vec<E>,
    /// Elements of the network's per-sample output.
    pub outputs_per_sample: usize,
}

impl<E> Predictions<E> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.classes.len()
    }
    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
    /// The outputs of sample `i`, if there is one.
    pub fn output(&self, i: usize) -> Option<&[E]> {
        let k = self.outputs_per_sample;
        self.outputs.get(i * k..(i + 1) * k)
    }
}

/// Keras-style training for every [`Network`]: `fit`, `evaluate`, `predict`.
///
/// Implemented for all networks; bring it into scope with
/// `use dl_nn::train::Fit` (or the prelude).
///
/// Any loss works: the data set supplies the target in the form the loss
/// wants ([`FitTarget`]): class labels for `CrossEntropy` (figures: loss
/// and accuracy), float targets of the output's size for `Mse`, `L1Loss`
/// (loss, MSE, MAE, R²) and `BceWithLogits` (loss, binary accuracy), as a
/// [`TensorDataset`](crate::data::TensorDataset) or a
/// [`Tabular`](crate::data::Tabular) holds them.
///
/// ```no_run
/// # use dl_core::prelude::*;
/// # use dl_nn::prelude::*;
/// # use dl_nn::loss::CrossEntropy;
/// # use dl_nn::train::*;
/// # use std::sync::Arc;
/// # fn demo<N: Network<Cpu, f32, Output = S1<10>>, D: Dataset + 'static, O: Optimizer<Cpu, f32>>(
/// #     model: &mut N, train: Arc<D>, test: Arc<D>, opt: O) -> Result<(), TrainError> {
/// let history = model.fit(
///     &train,
///     FitConfig::new(opt, CrossEntropy::new())
///         .epochs(5)
///         .batch_size(64)
///         .validation(&test)
///         .callback(EarlyStopping::new(Monitor::ValLoss).patience(2)),
/// )?;
/// println!("{history}");
/// history.plot_png("curves.png")?;
/// let eval = model.evaluate(&test, &CrossEntropy::new(), 256)?;
/// println!("test: {eval}");
/// let pred = model.predict(&test, 256)?;
/// println!("first sample is class {}", pred.classes[0]);
/// # Ok(()) }
/// ```
pub trait Fit<B: Backend, E: Float>: Network<B, E> {
    /// Trains for the configured epochs and returns the per-epoch figures.
    /// The model is in training mode during the epochs, in evaluation mode
    /// during validation, and is left in evaluation mode.
    ///
    /// # Errors
    /// [`TrainError`]: bad settings, a data set that does not fit the
    /// network or whose targets do not fit the loss
    /// ([`TrainError::NoClassLabels`], [`TrainError::TargetLen`]), a loss
    /// error, a non-finite value ([`NonFinite::Error`]), a callback's error.
    fn fit<'a, D, O, L, T>(
        &mut self,
        train: &Arc<D>,
        config: FitConfig<'a, Self, O, L, T>,
    ) -> Result<History, TrainError>
    where
        D: Dataset + ?Sized + 'static,
        O: Optimizer<B, E>,
        L: Loss<Self::Output, B, E>,
        L::Target: FitTarget<Self::Output, B, E>,
        T: Teaching<Self::Input, Self::Output, B, E>,
    {
        let mut config = config;
        self.fit_mut(train, &mut config)
    }

    /// Like [`Fit::fit`], keeping the configuration (and so the optimizer's
    /// state) with the caller, for a later run or a checkpoint.
    ///
    /// # Errors
    /// As [`Fit::fit`].
    fn fit_mut<'a, D, O, L, T>(
        &mut self,
        train: &Arc<D>,
        config: &mut FitConfig<'a, Self, O, L, T>,
    ) -> Result<History, TrainError>
    where
        D: Dataset + ?Sized + 'static,
        O: Optimizer<B, E>,
        L: Loss<Self::Output, B, E>,
        L::Target: FitTarget<Self::Output, B, E>,
        T: Teaching<Self::Input, Self::Output, B, E>,
    {
        fit_layer::<Self::Input, Self::Output, Self, D, O, L, T, B, E>(self, train, config)
    }

    /// Mean loss and accuracy (class labels) or the loss's metrics (float
    /// targets) on `data`, in evaluation mode.
    ///
    /// # Errors
    /// [`TrainError`]: `batch_size` 0, an empty data set or one that does
    /// not fit the network or the loss, a loss error.
    fn evaluate<D, L>(&mut self, data: &Arc<D>, loss: &L, batch_size: usize) -> Result<Evaluation, TrainError>
    where
        D: Dataset + ?Sized + 'static,
        L: Loss<Self::Output, B, E>,
        L::Target: FitTarget<Self::Output, B, E>,
    {
        evaluate_layer::<Self::Input, Self::Output, Self, D, L, B, E>(self, data, loss, batch_size)
    }

    /// Arg-max classes and raw outputs for every sample of `data` (labels
    /// and targets are ignored; a regression reads `outputs`), in
    /// evaluation mode.
    ///
    /// # Errors
    /// [`TrainError`]: `batch_size` 0, an empty data set, samples of the
    /// wrong size.
    fn predict<D>(&mut self, data: &Arc<D>, batch_size: usize) -> Result<Predictions<E>, TrainError>
    where
        D: Dataset + ?Sized + 'static,
    {
        predict_layer::<Self::Input, Self::Output, Self, D, B, E>(self, data, batch_size)
    }
}

impl<B: Backend, E: Float, N: Network<B, E>> Fit<B, E> for N {}

/// The device of a model: that of its first parameter or buffer.
///
/// # Errors
/// [`TrainError::NoDevice`] for a model without any.
pub fn device_of<M: Module<B, E>, B: Backend, E: Float>(model: &M) -> Result<B, TrainError> {
    let mut dev = None;
    model.visit("", &mut |_, p| {
        if dev.is_none() {
            dev = Some(p.dev.clone());
        }
    });
    dev.ok_or(TrainError::NoDevice)
}

/// A loss target's check of a data set ([`FitTarget::check_dataset`]).
type TargetCheck<D> = fn(&'static str, &D) -> Result<(), TrainError>;

/// Checks a data set's size and samples, and (with `Some(target)`) that it
/// supplies what the loss's target needs.
fn check_dataset<D: Dataset + ?Sized>(
    role: &'static str,
    data: &D,
    input: &[usize],
    in_numel: usize,
    target: Option<TargetCheck<D>>,
) -> Result<(), TrainError> {
    if data.is_empty() {
        return Err(TrainError::EmptyDataset { role });
    }
    if data.sample_len() != in_numel {
        return Err(TrainError::SampleLen {
            role,
            shape: input.to_vec(),
            expected: in_numel,
            got: data.sample_len(),
        });
    }
    if let Some(check) = target {
        check(role, data)?;
    }
    Ok(())
}

fn check_batch(what: &str, batch_size: usize) -> Result<(), TrainError> {
    if batch_size == 0 {
        return Err(TrainError::InvalidConfig(format!("{what} must be at least 1")));
    }
    Ok(())
}

/// Checks a batch's labels against the data set's classes; on a bad one,
/// finds its sample index from the loader's order of `epoch`.
fn check_labels<D: Dataset + ?Sized + 'static>(
    role: &'static str,
    labels: &[usize],
    loader: &DataLoader<D>,
    epoch: u64,
    step: usize,
) -> Result<(), TrainError> {
    let classes = loader.dataset().num_classes();
    match labels.iter().position(|&l| l >= classes) {
        None => Ok(()),
        Some(k) => Err(TrainError::LabelOutOfRange {
            role,
            index: loader.order(epoch)[step * loader.batch_size() + k],
            label: labels[k],
            classes,
        }),
    }
}

/// [`Layer::check_input`] on a batch; a refused value is reported with its
/// sample's index in the data set (from the loader's order of `epoch`).
fn check_input<In, Out, M, D, B, E>(
    role: &'static str,
    model: &M,
    x: &Tensor<In, B, E>,
    loader: &DataLoader<D>,
    epoch: u64,
    step: usize,
) -> Result<(), TrainError>
where
    In: Shape,
    Out: Shape,
    M: Layer<In, Out, B, E>,
    D: Dataset + ?Sized + 'static,
    B: Backend,
    E: Float,
{
    model.check_input(x).map_err(|source| TrainError::InvalidInput {
        role,
        index: loader.order(epoch)[step * loader.batch_size() + source.sample],
        source,
    })
}

/// The first non-finite value of a batch's outputs (`k` per sample), as an
/// error naming its sample's index in the data set.
fn check_outputs<D: Dataset + ?Sized + 'static, E: Float>(
    role: &'static str,
    host: &[E],
    k: usize,
    loader: &DataLoader<D>,
    epoch: u64,
    step: usize,
) -> Result<(), TrainError> {
    match host.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(TrainError::NonFiniteOutput {
            role,
            index: loader.order(epoch)[step * loader.batch_size() + i / k.max(1)],
            value: host[i].to_f64(),
        }),
    }
}

/// Runs `f`, turning a device fault (out of GPU memory in an infallible
/// kernel, see [`dl_core::fault`]) into a typed error.
fn on_device<T>(f: impl FnOnce() -> Result<T, TrainError>) -> Result<T, TrainError> {
    dl_core::fault::catch_device_fault(f).unwrap_or_else(|e| Err(e.into()))
}

/// Arg-max of each row of `k` outputs: the first maximum, a NaN counting as
/// maximal (as `torch.argmax` and the accuracy kernel do).
fn argmax_rows<E: Float>(out: &[E], k: usize, mut f: impl FnMut(usize)) {
    if k == 0 {
        return;
    }
    for row in out.chunks_exact(k) {
        let mut best = 0;
        for (j, v) in row.iter().enumerate().skip(1) {
            let b = row[best];
            if b.to_f64().is_nan() {
                break;
            }
            if v.to_f64().is_nan() || *v > b {
                best = j;
            }
        }
        f(best);
    }
}

/// Mean loss and accuracy of any [`Layer`] on `data` (evaluation mode), with
/// reused buffers. [`Fit::evaluate`] calls this for networks.
///
/// # Errors
/// As [`Fit::evaluate`].
pub fn evaluate_layer<In, Out, M, D, L, B, E>(
    model: &mut M,
    data: &Arc<D>,
    loss: &L,
    batch_size: usize,
) -> Result<Evaluation, TrainError>
where
    In: Shape,
    Out: Shape,
    M: Layer<In, Out, B, E>,
    D: Dataset + ?Sized + 'static,
    L: Loss<Out, B, E>,
    L::Target: FitTarget<Out, B, E>,
    B: Backend,
    E: Float,
{
    check_batch("the evaluation batch size", batch_size)?;
    check_dataset(
        "evaluation",
        &**data,
        In::DIMS,
        In::NUMEL,
        Some(<L::Target as FitTarget<Out, B, E>>::check_dataset::<D>),
    )?;
    let dev = device_of(model)?;
    let mut bufs = StepBuffers::<In, Out, M, B, E>::new(&dev);
    let mut loader =
        DataLoader::new(data.clone(), batch_size)?.float_targets(!<L::Target as FitTarget<Out, B, E>>::CLASS_LABELS);
    let mut pass = Pass::new(loss, &dev);
    evaluate_with(model, &mut loader, loss, "evaluation", &dev, &mut bufs, &mut pass)?;
    Ok(pass.evaluation(loader.num_samples()))
}

/// The reused state of evaluation passes: the target's storage and the
/// running figures.
struct Pass<Out: Shape, T: FitTarget<Out, B, E> + ?Sized, B: Backend, E: Float> {
    target: T::Batch,
    tally: Tally<E>,
    loss_sum: f64,
}

impl<Out: Shape, T: FitTarget<Out, B, E> + ?Sized, B: Backend, E: Float> Pass<Out, T, B, E> {
    fn new<L: Loss<Out, B, E, Target = T>>(loss: &L, dev: &B) -> Self {
        Self {
            target: T::new_batch(dev),
            tally: Tally::new(loss.metrics(), Out::NUMEL),
            loss_sum: 0.0,
        }
    }
    fn evaluation(&self, n: usize) -> Evaluation {
        let (accuracy, metrics) = figures::<Out, T, B, E>(&self.tally, n);
        Evaluation {
            loss: self.loss_sum / n as f64,
            accuracy,
            samples: n,
            metrics,
        }
    }
}

/// Accuracy (class labels, else NaN) and float-target metrics of a pass of `n` samples.
fn figures<Out: Shape, T: FitTarget<Out, B, E> + ?Sized, B: Backend, E: Float>(
    tally: &Tally<E>,
    n: usize,
) -> (f64, MetricValues) {
    if T::CLASS_LABELS {
        (tally.right as f64 / n as f64, MetricValues::default())
    } else {
        (f64::NAN, tally.sums.values())
    }
}

fn evaluate_with<In, Out, M, D, L, B, E>(
    model: &mut M,
    loader: &mut DataLoader<D>,
    loss: &L,
    role: &'static str,
    dev: &B,
    bufs: &mut StepBuffers<In, Out, M, B, E>,
    pass: &mut Pass<Out, L::Target, B, E>,
) -> Result<(), TrainError>
where
    In: Shape,
    Out: Shape,
    M: Layer<In, Out, B, E>,
    D: Dataset + ?Sized + 'static,
    L: Loss<Out, B, E>,
    L::Target: FitTarget<Out, B, E>,
    B: Backend,
    E: Float,
{
    model.set_training(false);
    pass.tally.reset();
    pass.loss_sum = 0.0;
    on_device(|| {
        let epoch = loader.next_epoch();
        let mut batches = loader.epoch::<In, B, E>(dev)?;
        let mut step = 0;
        while let Some(Batch { x, labels, targets }) = batches.next_batch() {
            let n = labels.len();
            if <L::Target as FitTarget<Out, B, E>>::CLASS_LABELS {
                check_labels(role, &labels, loader, epoch, step)?;
            }
            check_input(role, model, &x, loader, epoch, step)?;
            <L::Target as FitTarget<Out, B, E>>::load(&mut pass.target, labels, targets)?;
            model.forward_train_into(&x, &mut bufs.out, &mut bufs.cache);
            let target = <L::Target as FitTarget<Out, B, E>>::get(&pass.target);
            let l = loss.loss(&bufs.out, target, &mut bufs.grad_out)?.to_f64();
            if !l.is_finite() {
                // A NaN input or a diverged model: name the sample, never
                // report a NaN loss or a meaningless accuracy.
                check_outputs(role, &bufs.out.to_vec(), Out::NUMEL, loader, epoch, step)?;
            }
            pass.loss_sum += l * n as f64;
            <L::Target as FitTarget<Out, B, E>>::tally(&pass.target, &bufs.out, &mut pass.tally)?;
            step += 1;
        }
        Ok(())
    })
}

/// Predictions of any [`Layer`] on `data` (evaluation mode). [`Fit::predict`]
/// calls this for networks.
///
/// # Errors
/// As [`Fit::predict`].
pub fn predict_layer<In, Out, M, D, B, E>(
    model: &mut M,
    data: &Arc<D>,
    batch_size: usize,
) -> Result<Predictions<E>, TrainError>
where
    In: Shape,
    Out: Shape,
    M: Layer<In, Out, B, E>,
    D: Dataset + ?Sized + 'static,
    B: Backend,
    E: Float,
{
    check_batch("the prediction batch size", batch_size)?;
    check_dataset("prediction", &**data, In::DIMS, In::NUMEL, None)?;
    let dev = device_of(model)?;
    model.set_training(false);
    let mut out = Tensor::<Out, B, E>::empty(&dev);
    let mut cache = M::new_cache(&dev);
    let mut loader = DataLoader::new(data.clone(), batch_size)?;
    let n = data.len();
    let mut pred = Predictions {
        classes: Vec::with_capacity(n),
        outputs: Vec::with_capacity(n * Out::NUMEL),
        outputs_per_sample: Out::NUMEL,
    };
    let epoch = loader.next_epoch();
    let steps = || -> Result<(), TrainError> {
        for (step, (x, _)) in loader.epoch::<In, B, E>(&dev)?.enumerate() {
            check_input("prediction", model, &x, &loader, epoch, step)?;
            model.forward_train_into(&x, &mut out, &mut cache);
            let host = out.to_vec();
            check_outputs("prediction", &host, Out::NUMEL, &loader, epoch, step)?;
            argmax_rows(&host, Out::NUMEL, |c| pred.classes.push(c));
            pred.outputs.extend_from_slice(&host);
        }
        Ok(())
    };
    on_device(steps)?;
    Ok(pred)
}

/// Trains any [`Layer`] (not only a [`Network`]) as [`Fit::fit_mut`] does.
///
/// # Errors
/// As [`Fit::fit`].
pub fn fit_layer<In, Out, M, D, O, L, T, B, E>(
    model: &mut M,
    train: &Arc<D>,
    cfg: &mut FitConfig<'_, M, O, L, T>,
) -> Result<History, TrainError>
where
    In: Shape,
    Out: Shape,
    M: Layer<In, Out, B, E>,
    D: Dataset + ?Sized + 'static,
    O: Optimizer<B, E>,
    L: Loss<Out, B, E>,
    L::Target: FitTarget<Out, B, E>,
    T: Teaching<In, Out, B, E>,
    B: Backend,
    E: Float,
{
    let class_labels = <L::Target as FitTarget<Out, B, E>>::CLASS_LABELS;
    let bs = cfg.batch_size;
    check_batch("batch_size", bs)?;
    let val_bs = cfg.validation_batch_size.unwrap_or(bs);
    check_batch("validation_batch_size", val_bs)?;
    check_dataset(
        "train",
        &**train,
        In::DIMS,
        In::NUMEL,
        Some(<L::Target as FitTarget<Out, B, E>>::check_dataset::<D>),
    )?;
    if let Some(v) = &cfg.validation {
        check_dataset(
            "validation",
            &**v,
            In::DIMS,
            In::NUMEL,
            Some(<L::Target as FitTarget<Out, B, E>>::check_dataset::<dyn Dataset>),
        )?;
    }
    cfg.teacher.begin()?;
    let mut loader = DataLoader::new(train.clone(), bs)?
        .drop_last(cfg.drop_last)
        .float_targets(!class_labels);
    if let Some(seed) = cfg.shuffle {
        loader = loader.shuffle(seed);
    }
    if let Some(d) = &cfg.dist {
        loader = loader.sampler(d.train_sampler(cfg.shuffle, cfg.drop_last));
    }
    let steps = loader.num_batches();
    if steps == 0 {
        return Err(TrainError::InvalidConfig(format!(
            "drop_last with batch_size {bs} leaves no batch of the {} training samples",
            train.len()
        )));
    }
    let mut val_loader = match (&cfg.validation, &cfg.dist) {
        (Some(v), Some(d)) => Some(DataLoader::new(v.clone(), val_bs)?.sampler(d.eval_sampler())),
        (Some(v), None) => Some(DataLoader::new(v.clone(), val_bs)?),
        (None, _) => None,
    }
    .map(|l| l.float_targets(!class_labels));
    let dev = device_of(model)?;
    let mut bufs = StepBuffers::<In, Out, M, B, E>::new(&dev);
    let mut train_pass = Pass::new(&cfg.loss, &dev);
    let mut val_pass = Pass::new(&cfg.loss, &dev);
    let mut teacher_scratch = cfg.teacher.new_scratch(&dev);
    let mut guard = NonFiniteGuard::<B, E>::new(&dev, cfg.non_finite).max_consecutive_skips(cfg.max_consecutive_skips);

    let FitConfig {
        optimizer,
        loss,
        epochs,
        callbacks,
        progress,
        quiet,
        non_finite,
        dist,
        teacher,
        precision,
        ..
    } = cfg;
    let precision = *precision;
    if precision.is_low() && E::DTYPE != dl_core::DType::F32 {
        return Err(TrainError::InvalidConfig(format!(
            "mixed precision ({precision}) needs an f32 model, this one is {:?}",
            E::DTYPE
        )));
    }
    // Refused here (before any callback) on a backend without autocast.
    autocast(&dev, precision, || ()).map_err(|e| TrainError::InvalidConfig(e.to_string()))?;
    let mut scaler = if precision.needs_loss_scaling() {
        GradScaler::new()
    } else {
        GradScaler::disabled()
    };
    // PyTorch checks hyperparameters in the optimizer's constructor; a
    // state loaded for another model would panic at the first step.
    optimizer.validate(model).map_err(TrainError::Optimizer)?;
    let epochs = *epochs;
    let root = dist.as_ref().is_none_or(|d| d.rank() == 0);
    if let Some(d) = dist {
        d.broadcast_parameters(model)?;
    }
    let mut reporter = Reporter::new(progress, *quiet || !root, epochs);
    let mut history = History::default();
    let mut lr = optimizer.lr();

    // Everything from the first callback on: an error here still lets the
    // callbacks clean up (`on_train_abort`: restore the best weights).
    // A device fault (out of GPU memory) unwinds out of the infallible
    // kernels; `catch_device_fault` makes it a typed error here.
    let run = || -> Result<(), TrainError> {
        for cb in callbacks.iter_mut() {
            cb.on_train_begin(&mut CallbackContext::new(&history, model, epochs, &mut lr).with_root(root))?;
        }
        optimizer.set_lr(lr);

        for epoch in 0..epochs {
            for cb in callbacks.iter_mut() {
                cb.on_epoch_begin(
                    epoch,
                    &mut CallbackContext::new(&history, model, epochs, &mut lr).with_root(root),
                )?;
            }
            optimizer.set_lr(lr);
            let start = Instant::now();
            model.set_training(true);
            reporter.begin_epoch(epoch, steps);
            let (mut loss_sum, mut seen, mut skipped) = (0.0f64, 0usize, 0usize);
            train_pass.tally.reset();
            let loader_epoch = loader.next_epoch();
            let mut batches = loader.epoch::<In, B, E>(&dev)?;
            let mut step = 0;
            while let Some(Batch { x, labels, targets }) = batches.next_batch() {
                let n = labels.len();
                if class_labels {
                    check_labels("train", &labels, &loader, loader_epoch, step)?;
                }
                check_input("train", model, &x, &loader, loader_epoch, step)?;
                <L::Target as FitTarget<Out, B, E>>::load(&mut train_pass.target, labels, targets)?;
                autocast(&dev, precision, || {
                    model.forward_train_into(&x, &mut bufs.out, &mut bufs.cache)
                })?;
                let target = <L::Target as FitTarget<Out, B, E>>::get(&train_pass.target);
                let hard = loss.loss(&bufs.out, target, &mut bufs.grad_out)?;
                let l = autocast(&dev, precision, || {
                    teacher.apply(&x, &bufs.out, hard, &mut bufs.grad_out, &mut teacher_scratch)
                })??
                .to_f64();
                // A non-finite loss skips the backward pass (the guard reports it).
                let backward = l.is_finite() || *non_finite == NonFinite::Ignore;
                if backward {
                    // f16: the backward pass of `scale * loss` (no-op otherwise).
                    scaler.scale_grad_out(&mut bufs.grad_out);
                    model.zero_grad();
                    autocast(&dev, precision, || {
                        model.backward_params_into(&x, &bufs.out, &mut bufs.cache, &bufs.grad_out, &mut bufs.grad_in)
                    })?;
                }
                if let Some(d) = dist.as_mut() {
                    if !backward {
                        // Every rank must take part in the reduction; NaN
                        // gradients make every rank's guard see the fault.
                        model.for_each_param(&mut |p| p.dev.fill(&mut p.grad, E::from_f64(f64::NAN)));
                    }
                    d.sync_gradients(model)?;
                }
                // f16: gradients unscaled; an overflow skips the step and
                // backs the scale off (the normal working of loss scaling,
                // not a fault for the guard).
                if backward && !scaler.unscale(model) {
                    scaler.update().expect("unscale ran this step");
                    step += 1;
                    reporter.step_with(f64::NAN, || None, 0.0);
                    continue;
                }
                if !guard.check(model, l, epoch, step)? {
                    skipped += 1;
                    step += 1;
                    reporter.step_with(f64::NAN, || None, 0.0);
                    continue;
                }
                optimizer.step(model);
                if backward {
                    scaler.update().expect("unscale ran this step");
                }
                loss_sum += l * n as f64;
                <L::Target as FitTarget<Out, B, E>>::tally(&train_pass.target, &bufs.out, &mut train_pass.tally)?;
                seen += n;
                step += 1;
                let rate = seen as f64 / start.elapsed().as_secs_f64().max(1e-9);
                let tally = &train_pass.tally;
                reporter.step_with(
                    loss_sum / seen as f64,
                    || running_figure(class_labels, tally, seen),
                    rate,
                );
            }
            drop(batches);
            let train_secs = start.elapsed().as_secs_f64();
            let (val_loss, val_accuracy, val_metrics) = match &mut val_loader {
                Some(v) => {
                    autocast(&dev, precision, || {
                        evaluate_with(model, v, loss, "validation", &dev, &mut bufs, &mut val_pass)
                    })??;
                    let mut e = val_pass.evaluation(v.num_samples());
                    if let Some(d) = dist.as_mut() {
                        // Global figures: sums over the ranks' shards.
                        let mut sums = [
                            e.loss * e.samples as f64,
                            (e.accuracy * e.samples as f64).round(),
                            e.samples as f64,
                        ];
                        d.all_reduce_sum_f64(&mut sums)?;
                        e.loss = sums[0] / sums[2];
                        e.accuracy = sums[1] / sums[2];
                        if !class_labels {
                            d.all_reduce_sum_f64(val_pass.tally.sums.sums_mut())?;
                            val_pass.tally.sums.load_sums();
                            e.metrics = val_pass.tally.sums.values();
                        }
                    }
                    (Some(e.loss), class_labels.then_some(e.accuracy), e.metrics)
                }
                None => (None, None, MetricValues::default()),
            };
            let mut right = train_pass.tally.right;
            if let Some(d) = dist.as_mut() {
                let mut sums = [loss_sum, right as f64, seen as f64];
                d.all_reduce_sum_f64(&mut sums)?;
                loss_sum = sums[0];
                right = sums[1] as usize;
                seen = sums[2] as usize;
                if !class_labels {
                    d.all_reduce_sum_f64(train_pass.tally.sums.sums_mut())?;
                    train_pass.tally.sums.load_sums();
                }
            }
            let (train_loss, train_accuracy) = if seen > 0 && class_labels {
                (loss_sum / seen as f64, right as f64 / seen as f64)
            } else if seen > 0 {
                (loss_sum / seen as f64, f64::NAN)
            } else {
                (f64::NAN, f64::NAN)
            };
            let train_metrics = if class_labels {
                MetricValues::default()
            } else {
                train_pass.tally.sums.values()
            };
            let record = EpochRecord {
                epoch,
                train_loss,
                train_accuracy,
                val_loss,
                val_accuracy,
                lr: optimizer.lr(),
                seconds: start.elapsed().as_secs_f64(),
                samples_per_sec: seen as f64 / train_secs.max(1e-9),
                samples: seen,
                skipped_steps: skipped,
                train_metrics,
                val_metrics,
            };
            reporter.end_epoch(&record);
            history.epochs.push(record.clone());
            let mut stop = None;
            for cb in callbacks.iter_mut() {
                let ctl = cb.on_epoch_end(
                    &record,
                    &mut CallbackContext::new(&history, model, epochs, &mut lr).with_root(root),
                )?;
                if let (Control::Stop(why), None) = (ctl, &stop) {
                    stop = Some(why);
                }
            }
            optimizer.set_lr(lr);
            if let Some(why) = stop {
                reporter.message(&why);
                history.stopped_early = Some(why);
                break;
            }
        }
        for cb in callbacks.iter_mut() {
            cb.on_train_end(&mut CallbackContext::new(&history, model, epochs, &mut lr).with_root(root))?;
        }
        Ok(())
    };
    let outcome = on_device(run);
    model.set_training(false);
    match outcome {
        Ok(()) => Ok(history),
        Err(error) => {
            let mut cleanup = Vec::new();
            for cb in callbacks.iter_mut() {
                if let Err(e) = cb.on_train_abort(
                    &error,
                    &mut CallbackContext::new(&history, model, epochs, &mut lr).with_root(root),
                ) {
                    cleanup.push(format!("{}: {e}", cb.name()));
                }
            }
            if cleanup.is_empty() {
                Err(error)
            } else {
                Err(TrainError::Callback {
                    callback: "on_train_abort",
                    msg: format!("{error} (and clean-up failed: {})", cleanup.join("; ")),
                })
            }
        }
    }
}

/// The running figure a progress bar shows: accuracy (class labels) or the
/// loss's first metric.
fn running_figure<E: Float>(class_labels: bool, tally: &Tally<E>, seen: usize) -> Option<(&'static str, f64, bool)> {
    if class_labels {
        Some(("accuracy", tally.right as f64 / seen.max(1) as f64, true))
    } else {
        tally
            .sums
            .values()
            .primary()
            .map(|(m, v)| (m.name(), v, m == Metric::BinaryAccuracy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum_and_nan_wins() {
        let mut got = Vec::new();
        let nan = f32::NAN;
        argmax_rows(
            &[1.0f32, 3.0, 3.0, 0.0, 0.0, 5.0, nan, 1.0, 2.0, 1.0, nan, 9.0],
            3,
            |c| got.push(c),
        );
        assert_eq!(got, vec![1, 2, 0, 1]);
    }
}
