//! [`TrainError`]: everything `fit`, `evaluate`, `predict` and the callbacks
//! can fail with.

use std::fmt;

/// Where a non-finite value (NaN or infinity) was found during training.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultSource {
    /// The batch loss itself.
    Loss,
    /// The gradient of the parameter with this `state_dict` name (the first
    /// one, in visiting order, that holds a non-finite element).
    Gradient(String),
    /// The value of the parameter with this `state_dict` name: the model
    /// itself has diverged, and skipping steps cannot recover it.
    Parameter(String),
}

impl fmt::Display for FaultSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSource::Loss => f.write_str("the loss"),
            FaultSource::Gradient(name) => write!(f, "the gradient of `{name}`"),
            FaultSource::Parameter(name) => write!(f, "the parameter `{name}` itself"),
        }
    }
}

/// Errors of the training helpers.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A loss, a tensor operation or a backend failed.
    #[error(transparent)]
    Core(#[from] dl_core::Error),
    /// The data loader failed (a sample-length mismatch, a transform that
    /// does not fit, a thread that could not start).
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A configuration value is out of range (`batch_size(0)`, a negative
    /// `min_delta`, ...).
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// A data set holds no sample.
    #[error("the {role} data set is empty")]
    EmptyDataset {
        /// `train`, `validation`, `evaluation` or `prediction`.
        role: &'static str,
    },
    /// A data set's samples do not have the network's input size.
    #[error("the {role} data set has samples of {got} elements, but the network's input {shape:?} has {expected}")]
    SampleLen {
        /// `train`, `validation`, `evaluation` or `prediction`.
        role: &'static str,
        /// The network's per-sample input shape.
        shape: Vec<usize>,
        /// Elements of that shape.
        expected: usize,
        /// Elements per sample in the data set.
        got: usize,
    },
    /// A data set has more classes than the network has outputs.
    #[error("the {role} data set has {classes} classes, but the network produces only {outputs} outputs per sample")]
    ClassCount {
        /// `train`, `validation` or `evaluation`.
        role: &'static str,
        /// `Dataset::num_classes`.
        classes: usize,
        /// Elements of the network's per-sample output.
        outputs: usize,
    },
    /// A loss on class labels got a data set without classes (one with
    /// float targets only, for regression or binary losses).
    #[error("the {role} data set has no class labels (it has float targets of {target_len} value(s) per sample): use a loss whose target is a float tensor, such as Mse or BceWithLogits")]
    NoClassLabels {
        /// `train`, `validation` or `evaluation`.
        role: &'static str,
        /// `Dataset::target_len`.
        target_len: usize,
    },
    /// A loss whose target is a float tensor got a data set whose float
    /// targets do not have the network's output size (0: class labels only).
    #[error("the loss compares the network's {outputs} output(s) per sample with float targets, but the {role} data set has {}", targets_of(*.got))]
    TargetLen {
        /// `train`, `validation` or `evaluation`.
        role: &'static str,
        /// Elements of the network's per-sample output.
        outputs: usize,
        /// `Dataset::target_len`.
        got: usize,
    },
    /// A data set returned a label outside `0..num_classes`.
    #[error("the {role} data set returned label {label} for sample {index}, but it declares {classes} classes")]
    LabelOutOfRange {
        /// `train`, `validation` or `evaluation`.
        role: &'static str,
        /// Sample index.
        index: usize,
        /// The label returned.
        label: usize,
        /// `Dataset::num_classes`.
        classes: usize,
    },
    /// The network has no parameter, so the helpers cannot tell which device
    /// it lives on.
    #[error("the network has no parameter or buffer, so its device is unknown")]
    NoDevice,
    /// A data-parallel collective failed (see `GradSync`): a transport
    /// error, a peer rank that died or failed, ranks that disagree.
    #[error("distributed training failed on rank {rank}: {msg}")]
    Distributed {
        /// The rank that reports the failure.
        rank: usize,
        /// What failed (naming the peer rank where it is known).
        msg: String,
    },
    /// A NaN or infinite loss or gradient (with `NonFinite::Error`, the default).
    #[error("non-finite value in {what} at epoch {epoch}, step {step}")]
    NonFinite {
        /// Epoch (0-based).
        epoch: usize,
        /// Step within the epoch (0-based batch index).
        step: usize,
        /// What was not finite.
        what: FaultSource,
    },
    /// `NonFinite::SkipStep` skipped this many steps in a row: training is
    /// not recovering (see `FitConfig::max_consecutive_skips`).
    #[error("{consecutive} consecutive steps skipped for non-finite values (the last at epoch {epoch}, step {step}, in {what}); stopping")]
    TooManySkippedSteps {
        /// Epoch of the last skipped step (0-based).
        epoch: usize,
        /// Step of the last skipped step within its epoch (0-based).
        step: usize,
        /// Skipped steps in a row.
        consecutive: usize,
        /// What the last skipped step found.
        what: FaultSource,
    },
    /// A layer cannot take a value of the data (an `Embedding` token id out
    /// of range), found by `Layer::check_input` before the forward pass.
    #[error("the {role} data set's sample {index}: {source}")]
    InvalidInput {
        /// `train`, `validation`, `evaluation` or `prediction`.
        role: &'static str,
        /// Index of the sample in the data set.
        index: usize,
        /// The layer, the value and its position.
        source: crate::module::InputError,
    },
    /// The network produced a NaN or an infinity for a sample in
    /// `evaluate`, `predict` or validation (a NaN input, or a diverged model).
    #[error("the network's output for sample {index} of the {role} data set is not finite ({value})")]
    NonFiniteOutput {
        /// `validation`, `evaluation` or `prediction`.
        role: &'static str,
        /// Index of the sample in the data set.
        index: usize,
        /// The first non-finite output value.
        value: f64,
    },
    /// The optimizer's settings or state do not fit (a negative or NaN
    /// learning rate, Nesterov without momentum, a state loaded for another
    /// model); checked by `fit` before the first step.
    #[error("invalid optimizer: {0}")]
    Optimizer(String),
    /// A callback monitors a figure that the epoch does not have (a
    /// validation figure without a validation set, an accuracy in a run
    /// on float targets, a float-target metric its loss does not report).
    #[error("callback `{callback}` monitors `{monitor}`, which this run does not compute (no validation set, or a figure of another kind of loss?)")]
    MissingMetric {
        /// The callback's name.
        callback: &'static str,
        /// The monitored figure.
        monitor: &'static str,
    },
    /// A callback failed (for example a user closure that saves a checkpoint).
    #[error("callback `{callback}` failed: {msg}")]
    Callback {
        /// The callback's name.
        callback: &'static str,
        /// Its message.
        msg: String,
    },
    /// Writing a history or a plot failed.
    #[error("{path}: {msg}")]
    Io {
        /// The file concerned.
        path: String,
        /// What went wrong.
        msg: String,
    },
}

dl_core::debug_as_display!(TrainError);

/// How a data set's float targets read in [`TrainError::TargetLen`].
fn targets_of(len: usize) -> String {
    if len == 0 {
        "class labels only (no float targets)".to_string()
    } else {
        format!("float targets of {len} value(s) per sample")
    }
}
