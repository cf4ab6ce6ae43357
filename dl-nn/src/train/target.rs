//! How `fit` and `evaluate` build each batch's target in the form the loss
//! wants, chosen by the loss's [`Loss::Target`](crate::loss::Loss::Target):
//!
//! | `Loss::Target` | losses | what the data set supplies | figures |
//! |---|---|---|---|
//! | `[usize]` | `CrossEntropy` | class labels ([`Dataset::get`], `num_classes() > 0`) | accuracy |
//! | `Tensor<Out, B, E>` | `Mse`, `L1Loss`, `BceWithLogits`, `KlDiv` | float targets of the output's size ([`Dataset::get_target`], `target_len() == Out::NUMEL`) | the loss's [`Metric`]s |
//!
//! A data set that does not supply what the loss wants is refused before
//! the first step with a typed error ([`TrainError::NoClassLabels`],
//! [`TrainError::TargetLen`]). The class-label path is the one `fit` always
//! had: the loader's label vector is handed to the loss as it is, and the
//! accuracy is counted on the device.

use super::error::TrainError;
use super::metrics::{Metric, MetricSums};
use crate::data::Dataset;
use crate::loss::accuracy::count_correct_flat;
use dl_core::ops::loss::ClassDims;
use dl_core::{Backend, Float, Shape, Tensor};

mod sealed {
    pub trait Sealed {}
    impl Sealed for [usize] {}
    impl<S: dl_core::Shape, B: dl_core::Backend, E: dl_core::Float> Sealed for dl_core::Tensor<S, B, E> {}
}

/// The running figures of one pass of `fit` or `evaluate` (correct
/// predictions for class labels, metric sums for float targets). Made and
/// read by the training loop only.
pub struct Tally<E> {
    pub(crate) right: usize,
    pub(crate) sums: MetricSums,
    host: Vec<E>,
}

impl<E: Float> Tally<E> {
    pub(crate) fn new(metrics: &'static [Metric], outputs: usize) -> Self {
        Self {
            right: 0,
            sums: MetricSums::new(metrics, outputs),
            host: Vec::new(),
        }
    }
    pub(crate) fn reset(&mut self) {
        self.right = 0;
        self.sums.reset();
    }
}

/// The float targets of one batch: on the device for the loss, on the host
/// for the metrics. Allocated once per `fit`/`evaluate` call and refilled.
pub struct FloatBatch<S: Shape, B: Backend, E: Float> {
    target: Tensor<S, B, E>,
    host: Vec<f32>,
    conv: Vec<E>,
}

/// A loss target that `fit` and `evaluate` can build from a data set:
/// class labels (`[usize]`) or a float tensor of the network's output shape
/// (`Tensor<Out, B, E>`). Sealed: a new loss picks one of these targets.
pub trait FitTarget<Out: Shape, B: Backend, E: Float>: sealed::Sealed {
    /// The storage of one batch's target, reused from step to step.
    type Batch;
    /// Whether the target is the data set's class labels (otherwise its
    /// float targets, which the loader then gathers).
    const CLASS_LABELS: bool;
    /// Empty storage on `dev`.
    fn new_batch(dev: &B) -> Self::Batch;
    /// Checks that a data set supplies this target for outputs of shape `Out`.
    ///
    /// # Errors
    /// [`TrainError::NoClassLabels`], [`TrainError::ClassCount`] (class
    /// labels); [`TrainError::TargetLen`] (float targets).
    fn check_dataset<D: Dataset + ?Sized>(role: &'static str, data: &D) -> Result<(), TrainError>;
    /// Takes one batch's labels and float targets (as the loader made them)
    /// into the storage.
    ///
    /// # Errors
    /// [`TrainError::TargetLen`] when the float targets do not hold
    /// `Out::NUMEL` values per sample.
    fn load(batch: &mut Self::Batch, labels: Vec<usize>, targets: Vec<f32>) -> Result<(), TrainError>;
    /// The target the loss takes.
    fn get(batch: &Self::Batch) -> &Self;
    /// Adds the batch to the pass's figures (`out`: the network's outputs).
    ///
    /// # Errors
    /// A device error.
    fn tally(batch: &Self::Batch, out: &Tensor<Out, B, E>, tally: &mut Tally<E>) -> Result<(), TrainError>;
}

impl<Out: Shape, B: Backend, E: Float> FitTarget<Out, B, E> for [usize] {
    type Batch = Vec<usize>;
    const CLASS_LABELS: bool = true;
    fn new_batch(_dev: &B) -> Vec<usize> {
        Vec::new()
    }
    fn check_dataset<D: Dataset + ?Sized>(role: &'static str, data: &D) -> Result<(), TrainError> {
        let classes = data.num_classes();
        if classes == 0 {
            return Err(TrainError::NoClassLabels {
                role,
                target_len: data.target_len(),
            });
        }
        if classes > Out::NUMEL {
            return Err(TrainError::ClassCount {
                role,
                classes,
                outputs: Out::NUMEL,
            });
        }
        Ok(())
    }
    #[inline]
    fn load(batch: &mut Vec<usize>, labels: Vec<usize>, _targets: Vec<f32>) -> Result<(), TrainError> {
        *batch = labels;
        Ok(())
    }
    #[inline]
    fn get(batch: &Vec<usize>) -> &[usize] {
        batch
    }
    #[inline]
    fn tally(batch: &Vec<usize>, out: &Tensor<Out, B, E>, tally: &mut Tally<E>) -> Result<(), TrainError> {
        tally.right += correct(out, batch)?;
        Ok(())
    }
}

/// Number of rows of `out` whose first maximum is at the label (on the device).
pub(crate) fn correct<Out: Shape, B: Backend, E: Float>(
    out: &Tensor<Out, B, E>,
    labels: &[usize],
) -> Result<usize, TrainError> {
    let dev = out.device();
    let idx: Vec<u32> = labels.iter().map(|&l| l as u32).collect();
    let idx = dev.idx_from_slice(&idx);
    let d = ClassDims {
        rows: out.batch(),
        classes: Out::NUMEL,
    };
    Ok(count_correct_flat(dev, out.buf(), &idx, d)?)
}

impl<S: Shape, B: Backend, E: Float> FitTarget<S, B, E> for Tensor<S, B, E> {
    type Batch = FloatBatch<S, B, E>;
    const CLASS_LABELS: bool = false;
    fn new_batch(dev: &B) -> FloatBatch<S, B, E> {
        FloatBatch {
            target: Tensor::empty(dev),
            host: Vec::new(),
            conv: Vec::new(),
        }
    }
    fn check_dataset<D: Dataset + ?Sized>(role: &'static str, data: &D) -> Result<(), TrainError> {
        if data.target_len() != S::NUMEL {
            return Err(TrainError::TargetLen {
                role,
                outputs: S::NUMEL,
                got: data.target_len(),
            });
        }
        Ok(())
    }
    fn load(batch: &mut FloatBatch<S, B, E>, labels: Vec<usize>, targets: Vec<f32>) -> Result<(), TrainError> {
        let n = labels.len();
        if targets.len() != n * S::NUMEL {
            return Err(TrainError::TargetLen {
                role: "batch",
                outputs: S::NUMEL,
                got: targets.len().checked_div(n).unwrap_or(0),
            });
        }
        batch.host = targets;
        // f32 -> E is exact for f32 and f64.
        batch.conv.clear();
        batch.conv.extend(batch.host.iter().map(|&v| E::from_f64(v as f64)));
        batch.target.set_batch(n);
        let dev = batch.target.device().clone();
        dev.write(batch.target.buf_mut(), &batch.conv);
        Ok(())
    }
    #[inline]
    fn get(batch: &FloatBatch<S, B, E>) -> &Tensor<S, B, E> {
        &batch.target
    }
    fn tally(batch: &FloatBatch<S, B, E>, out: &Tensor<S, B, E>, tally: &mut Tally<E>) -> Result<(), TrainError> {
        if tally.sums.is_empty() {
            return Ok(());
        }
        tally.host = out.to_vec();
        tally.sums.add(&tally.host, &batch.host);
        Ok(())
    }
}
