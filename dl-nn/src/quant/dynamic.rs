//! Dynamic quantization (PyTorch's `quantize_dynamic`): Linear layers get
//! `i8` per-channel weights once; their input is quantized to `u8` per
//! batch (from the batch's own min/max) just before the integer GEMM, and
//! their output is `f32`. Every other layer runs in `f32`. No calibration.

use super::model::{available, epilogue, evaluate_with};
use super::observer::{quantize_per_channel, QParams};
use super::plan::{FOp, FloatPlan};
use super::QuantError;
use crate::data::Dataset;
use crate::module::Network;
use crate::train::Evaluation;
use dl_core::ops::qgemm::{qgemm, PackedB, QOut, QgemmPath};
use dl_core::{Cpu, Shape, Tensor};
use std::marker::PhantomData;

#[derive(Clone, Debug)]
struct DynLinear {
    packed: PackedB,
    w_scales: Vec<f32>,
    bias: Vec<f32>,
    relu: bool,
}

/// A `#[network]` model `N` with dynamically quantized Linear layers; made
/// by [`quantize_dynamic`]. Called like the original.
pub struct DynQuantized<N> {
    plan: FloatPlan,
    /// Per plan step: the integer Linear replacing it.
    linears: Vec<Option<DynLinear>>,
    path: QgemmPath,
    _net: PhantomData<fn() -> N>,
}

impl<N> std::fmt::Debug for DynQuantized<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynQuantized")
            .field("linears", &self.linears.iter().filter(|l| l.is_some()).count())
            .field("path", &self.path)
            .finish()
    }
}

/// Quantizes every Linear of `model` dynamically (see the module
/// documentation).
///
/// ```ignore
/// // (compiled and run as tests/quantization.rs `doc_example_dynamic`)
/// use dl::prelude::*;
/// use dl::nn::quant::quantize_dynamic;
/// #[network(input = [8])]
/// struct Mlp { fc1: Linear<8, 16>, relu: ReLU, fc2: Linear<16, 3> }
/// let model = Mlp::init(&Cpu, 1);
/// let q = quantize_dynamic(&model).unwrap();
/// let x = Tensor::randn(&Cpu, 4, &mut Rng::new(2));
/// let (want, got) = (model.forward(&x).to_vec(), q.forward(&x).to_vec());
/// assert!(want.iter().zip(&got).all(|(a, b)| (a - b).abs() < 0.05));
/// ```
///
/// # Errors
/// [`QuantError::Unsupported`] for a layer the plan cannot read.
pub fn quantize_dynamic<N: Network<Cpu, f32>>(model: &N) -> Result<DynQuantized<N>, QuantError> {
    let plan = FloatPlan::from_network(model)?;
    let linears = plan
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| match &s.op {
            FOp::Linear { i: fi, o, w, b } => {
                let (q, scales) = quantize_per_channel(w, *o);
                let relu = matches!(plan.steps.get(i + 1).map(|s| &s.op), Some(FOp::Relu));
                Some(DynLinear {
                    packed: PackedB::pack(&q, *o, *fi),
                    w_scales: scales,
                    bias: b.clone(),
                    relu,
                })
            }
            _ => None,
        })
        .collect();
    Ok(DynQuantized {
        plan,
        linears,
        path: QgemmPath::selected(),
        _net: PhantomData,
    })
}

impl<N: Network<Cpu, f32>> DynQuantized<N> {
    /// Inference on a batch.
    pub fn forward(&self, x: &Tensor<N::Input>) -> Tensor<N::Output> {
        let n = x.batch();
        Tensor::from_vec(&Cpu, n, self.run(x.as_slice(), n)).expect("the plan produces the network's output shape")
    }

    fn run(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut cur = x.to_vec();
        let mut a = Vec::new();
        let mut skip = false;
        let mut stack = Vec::new();
        for (i, lin) in self.linears.iter().enumerate() {
            if std::mem::take(&mut skip) {
                continue;
            }
            match lin {
                Some(l) => {
                    let (k, kp) = (l.packed.k(), l.packed.k_padded());
                    let (lo, hi) = cur.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    let q = QParams::from_range_u8(lo, hi);
                    let inv = 1.0 / q.scale;
                    let zp = q.zero_point as f32;
                    a.clear();
                    a.resize(n * kp, 0u8);
                    for (d, s) in a.chunks_exact_mut(kp).zip(cur.chunks_exact(k)) {
                        for (d, &v) in d.iter_mut().zip(s) {
                            *d = ((v * inv).round_ties_even() + zp).clamp(0.0, 255.0) as u8;
                        }
                    }
                    let mut y = vec![0f32; n * l.packed.n()];
                    let epi = epilogue(q, &l.w_scales, &l.bias, l.relu);
                    qgemm(self.path, n, &a, kp, &l.packed, &epi, QOut::F32(&mut y), l.packed.n());
                    cur = y;
                    skip = l.relu;
                }
                None => cur = self.plan.run_step(i, &cur, n, &mut stack),
            }
        }
        cur
    }

    /// The integer GEMM path in use.
    pub fn path(&self) -> QgemmPath {
        self.path
    }

    /// Runs on `path` from now on.
    ///
    /// # Errors
    /// [`QuantError::PathUnavailable`] when this CPU lacks it.
    pub fn set_path(&mut self, path: QgemmPath) -> Result<(), QuantError> {
        self.path = available(path)?;
        Ok(())
    }

    /// Mean cross-entropy loss and accuracy on `data`.
    ///
    /// # Errors
    /// As [`Quantized::evaluate`](super::Quantized::evaluate).
    pub fn evaluate<D: Dataset + ?Sized>(&self, data: &D, batch_size: usize) -> Result<Evaluation, QuantError> {
        evaluate_with(data, batch_size, N::Input::NUMEL, N::Output::NUMEL, |x, n| {
            self.run(x, n)
        })
    }
}
