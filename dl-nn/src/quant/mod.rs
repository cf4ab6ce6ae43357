//! Model compression by 8-bit quantization, computed in integer arithmetic.
//!
//! * [`quantize`]: post-training **static** quantization of a trained
//!   `#[network]` model. Weights: per-output-channel symmetric `i8`.
//!   Activations: `u8` with a scale and zero point per tensor, calibrated
//!   by running the `f32` model on sample data with an [`Observer`]
//!   (min/max or percentile). Conv2d (im2col on `u8`) and Linear run on the
//!   integer GEMM of [`dl_core::ops::qgemm`] (AVX-512 VNNI, AVX-VNNI, AVX2
//!   or portable, chosen at run time); ReLU is fused into the GEMM's
//!   epilogue, which requantizes to `u8` for the next layer; pooling and
//!   flatten work on the `u8` values; BatchNorm is folded into the
//!   preceding Conv2d/Linear; only the last layer's output is `f32`. The
//!   result is a [`Quantized<N>`], with `forward`, `evaluate`, `save` /
//!   `load` (safetensors with `I8` weights) and a per-layer
//!   [`error_report`](Quantized::error_report).
//! * [`quantize_dynamic`]: Linear layers only, activations quantized per
//!   batch at run time ([`DynQuantized<N>`]), like PyTorch's
//!   `quantize_dynamic`.
//! * [`FakeQuant`]: quantize-dequantize in `f32` with the straight-through
//!   gradient, a layer for quantization-aware training inside `#[network]`.
//!
//! The network is read without running it: its summary
//! ([`Network::summary`]: layer kinds and output shapes),
//! [`Module::structure`](crate::Module::structure) (the fields of nested
//! `#[network]`s, the branches of residual connections) and
//! [`Module::visit`](crate::Module::visit) (weights by `state_dict` name).
//! Supported layers: Conv2d, Linear, BatchNorm1d/2d (after a Conv2d or
//! Linear), ReLU, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten, Dropout,
//! nested networks, and [`Residual`](crate::layers::Residual) /
//! [`ResidualProj`](crate::layers::ResidualProj) whose branches are made of
//! those: the block and the projection are quantized like any layers, and
//! the add runs on the `u8` values, requantized to its calibrated output
//! parameters (PyTorch's `QFunctional.add`), with a following ReLU fused.
//! Any other layer is a [`QuantError::Unsupported`] naming it.
//!
//! ```ignore
//! // (compiled and run as tests/quantization.rs `doc_example_static`)
//! use dl::prelude::*;
//! use dl::nn::quant::{quantize, Observer, QuantConfig, Quantized};
//! #[network(input = [1, 8, 8])]
//! struct Tiny { conv: Conv2d<1, 4, 3>, relu: ReLU, pool: MaxPool2d<2>, flat: Flatten, fc: Linear<36, 3> }
//! let model = Tiny::init(&Cpu, 7);
//! let mut rng = Rng::new(1);
//! let x: Vec<f32> = (0..64 * 64).map(|_| rng.normal() as f32).collect();
//! let calib = InMemoryDataset::new(x, vec![0; 64], 64, 3).unwrap();
//! let q: Quantized<Tiny> = quantize(&model, &calib, &QuantConfig::default()).unwrap();
//! let batch = Tensor::from_slice(&Cpu, 2, &calib.data()[..128]).unwrap();
//! let (want, got) = (model.forward(&batch).to_vec(), q.forward(&batch).to_vec());
//! assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 0.1));
//! ```

mod dynamic;
mod fake_quant;
mod io;
mod kernels;
mod model;
mod observer;
mod plan;
mod report;

pub use dl_core::ops::qgemm::QgemmPath;
pub use dynamic::{quantize_dynamic, DynQuantized};
pub use fake_quant::{fake_quant_backward, fake_quant_forward, FakeQuant, FakeQuantPerChannel, QuantGrid};
pub use model::Quantized;
pub use observer::{quantize_per_channel, Observer, QParams};
pub use report::{LayerError, QuantReport};

use crate::data::Dataset;
use crate::module::Network;
use dl_core::Cpu;

// `?` out of `main` prints `Error: {e:?}`: the message, not a struct dump.
dl_core::debug_as_display!(QuantError);

/// Errors of quantization.
#[derive(thiserror::Error)]
pub enum QuantError {
    /// A layer the integer plan does not support.
    #[error("layer `{layer}` ({kind}) cannot be quantized: {reason}")]
    Unsupported {
        /// Field name.
        layer: String,
        /// Layer kind as written.
        kind: String,
        /// Why.
        reason: String,
    },
    /// The calibration or evaluation data set holds no sample.
    #[error("the data set is empty")]
    EmptyData,
    /// Samples of the wrong size.
    #[error("the data set has samples of {got} elements, the network's input has {expected}")]
    SampleLen {
        /// The network's input size.
        expected: usize,
        /// The data set's sample size.
        got: usize,
    },
    /// A configuration value out of range.
    #[error("invalid quantization configuration: {0}")]
    InvalidConfig(String),
    /// The integer GEMM path asked for is not available on this CPU.
    #[error("the integer GEMM path `{0}` is not available on this CPU")]
    PathUnavailable(QgemmPath),
    /// A quantized checkpoint that cannot be read.
    #[error("quantized checkpoint: {0}")]
    Format(String),
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Options of [`quantize`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantConfig {
    /// How activation ranges are taken from the calibration data.
    pub observer: Observer,
    /// Calibration samples (the first ones of the data set; 0: all).
    pub calibration_samples: usize,
    /// Samples per calibration batch (also the batch of the percentile).
    pub batch_size: usize,
}

impl Default for QuantConfig {
    /// Min/max observers over 1,000 samples in batches of 100.
    fn default() -> Self {
        Self {
            observer: Observer::MinMax,
            calibration_samples: 1000,
            batch_size: 100,
        }
    }
}

impl QuantConfig {
    setters! {
        /// This configuration with `observer`.
        observer: Observer,
        /// This configuration with `n` calibration samples.
        calibration_samples: usize,
    }
}

/// Post-training static quantization of `model`, calibrated on `calibration`
/// (see the module documentation).
///
/// # Errors
/// [`QuantError`]: an unsupported layer, an empty calibration set or one
/// with samples of the wrong size, an invalid configuration.
pub fn quantize<N: Network<Cpu, f32>, D: Dataset + ?Sized>(
    model: &N,
    calibration: &D,
    config: &QuantConfig,
) -> Result<Quantized<N>, QuantError> {
    config.observer.validate().map_err(QuantError::InvalidConfig)?;
    if config.batch_size == 0 {
        return Err(QuantError::InvalidConfig("batch size 0".into()));
    }
    let plan = plan::FloatPlan::from_network(model)?;
    let obs = model::calibrate(&plan, calibration, config)?;
    let (input_q, ops) = model::build(&plan, &mut model::Calibrated(obs))?;
    Ok(Quantized::from_parts(plan.input, input_q, ops))
}
