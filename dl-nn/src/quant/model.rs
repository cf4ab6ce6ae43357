//! [`Quantized`]: a network after post-training static quantization, run
//! in integer arithmetic from its input to its last layer.

use super::kernels::{
    add_u8, avg_pool_nhwc, give, global_avg_nhwc, im2col_nhwc, max_pool_nhwc, nchw_to_nhwc, nhwc_to_nchw, take, Window,
};
use super::observer::{quantize_per_channel, QParams, RangeObserver};
use super::plan::{Dims, FOp, FloatPlan, Step};
use super::{QuantConfig, QuantError};
use crate::data::Dataset;
use crate::module::Network;
use crate::train::Evaluation;
use dl_core::ops::qgemm::{qgemm, Epilogue, PackedB, QOut, QgemmPath};
use dl_core::{Cpu, Tensor};
use std::marker::PhantomData;

/// A Conv2d or Linear on the integer GEMM.
#[derive(Clone, Debug)]
pub(crate) struct QGemm {
    pub name: String,
    pub kind: String,
    /// `(k, stride, pad)` for a convolution.
    pub conv: Option<(usize, usize, usize)>,
    pub in_dims: Dims,
    pub out_dims: Dims,
    /// The weights as the float layer stores them (`[oc, ic, k, k]` or `[o, i]`).
    pub w_q: Vec<i8>,
    /// The weights in GEMM order (NHWC patches, flatten permutation applied), packed.
    pub packed: PackedB,
    pub w_scales: Vec<f32>,
    pub bias: Vec<f32>,
    pub relu: bool,
    pub in_q: QParams,
    /// `None`: the output is dequantized to `f32` (the last layer).
    pub out_q: Option<QParams>,
    /// The `(c, h, w)` of a flattened NHWC input whose columns were permuted.
    pub flat_perm: Option<Dims>,
    /// Float-plan points of the input and output (for the error report).
    pub fin: usize,
    pub fout: usize,
}

/// The add of a residual connection, on `u8` values.
#[derive(Clone, Debug)]
pub(crate) struct QAdd {
    /// `block1.add` for the field `block1`.
    pub name: String,
    /// The residual's kind as written.
    pub kind: String,
    /// A following ReLU, fused (the output clamps at its zero point).
    pub relu: bool,
    /// The parameters the saved and the current operand arrive with.
    pub a_q: QParams,
    pub b_q: QParams,
    /// `None`: the output is dequantized to `f32` (the last layer).
    pub out_q: Option<QParams>,
    pub dims: Dims,
    /// Float-plan points of the saved operand, the current one and the
    /// output (for the error report).
    pub fa: usize,
    pub fb: usize,
    pub fout: usize,
}

/// One op of a quantized plan.
#[derive(Clone, Debug)]
pub(crate) enum QOp {
    Gemm(Box<QGemm>),
    /// A residual connection starts: a copy of the activation is saved.
    Push,
    /// A projection shortcut starts: the block's output is saved and the
    /// residual's input comes back.
    Swap,
    /// The residual add of the saved activation and the current one.
    Add(Box<QAdd>),
    MaxPool {
        win: Window,
        out: Dims,
    },
    AvgPool {
        win: Window,
        out: Dims,
    },
    GlobalAvg,
    Relu,
    Flatten,
}

/// An activation between ops.
#[derive(Clone, Debug)]
pub(crate) enum Act {
    /// NHWC `u8` (a vector: `(n, 1, 1)`); `flat_from`: flattened from
    /// NHWC `(c, h, w)` (its order is not PyTorch's CHW order).
    Q {
        data: Vec<u8>,
        q: QParams,
        dims: Dims,
        flat_from: Option<Dims>,
    },
    /// Canonical (NCHW) `f32`.
    F { data: Vec<f32> },
}

/// A `#[network]` model `N` after post-training static quantization:
/// Conv2d and Linear run on the `u8 x i8` integer GEMM
/// ([`dl_core::ops::qgemm`]) with per-output-channel `i8` weights, the
/// activations between them stay `u8` (ReLU fused into the GEMM's
/// epilogue, pooling on the integers), and the last layer dequantizes to
/// `f32`. Made by [`quantize`](super::quantize); a value of a type the user
/// names (`Quantized<LeNet>`), called like the original.
pub struct Quantized<N> {
    input: Dims,
    input_q: QParams,
    ops: Vec<QOp>,
    path: QgemmPath,
    _net: PhantomData<fn() -> N>,
}

impl<N> Clone for Quantized<N> {
    fn clone(&self) -> Self {
        Self {
            input: self.input,
            input_q: self.input_q,
            ops: self.ops.clone(),
            path: self.path,
            _net: PhantomData,
        }
    }
}

impl<N> std::fmt::Debug for Quantized<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quantized")
            .field("layers", &self.layer_names())
            .field("path", &self.path)
            .finish()
    }
}

/// Integer weights, per-channel scales and bias of one layer.
pub(crate) type LayerTensors = (Vec<i8>, Vec<f32>, Vec<f32>);

/// Where a plan builder gets its numbers: calibration or a checkpoint.
pub(crate) trait Source {
    /// Quantization parameters at float-plan point `p` (0: the input).
    fn point(&mut self, name: &str, p: usize, input: bool) -> Result<QParams, QuantError>;
    /// Integer weights, scales and bias of a layer from its float weights.
    fn weights(&mut self, name: &str, w: &[f32], b: &[f32], rows: usize) -> Result<LayerTensors, QuantError>;
}

/// Calibration ranges as a [`Source`].
pub(crate) struct Calibrated(pub Vec<RangeObserver>);

impl Source for Calibrated {
    fn point(&mut self, _: &str, p: usize, _: bool) -> Result<QParams, QuantError> {
        let (lo, hi) = self.0[p].range();
        Ok(QParams::from_range_u8(lo, hi))
    }
    fn weights(&mut self, _: &str, w: &[f32], b: &[f32], rows: usize) -> Result<LayerTensors, QuantError> {
        let (q, s) = quantize_per_channel(w, rows);
        Ok((q, s, b.to_vec()))
    }
}

/// `[oc, ic, k, k]` -> `[oc, (k, k, ic)]` (the NHWC patch order).
fn conv_gemm_order(w: &[i8], oc: usize, ic: usize, k: usize) -> Vec<i8> {
    let mut out = vec![0i8; w.len()];
    for o in 0..oc {
        for c in 0..ic {
            for t in 0..k * k {
                out[o * k * k * ic + t * ic + c] = w[(o * ic + c) * k * k + t];
            }
        }
    }
    out
}

/// Columns in CHW order -> NHWC order, for a Linear after a Flatten.
fn flat_gemm_order(w: &[i8], o: usize, (c, h, wd): Dims) -> Vec<i8> {
    let i = c * h * wd;
    let mut out = vec![0i8; w.len()];
    for r in 0..o {
        for ch in 0..c {
            for p in 0..h * wd {
                out[r * i + p * c + ch] = w[r * i + ch * h * wd + p];
            }
        }
    }
    out
}

/// For step `i` of a plan whose layers end at `end`: whether a ReLU
/// follows it (fused into it), the step after the fused pair, and the
/// parameters of its output (none for the model's output, which stays float).
fn fused_output(
    steps: &[Step],
    i: usize,
    end: usize,
    name: &str,
    src: &mut dyn Source,
) -> Result<(bool, usize, Option<QParams>), QuantError> {
    let relu = matches!(steps.get(i + 1).map(|s| &s.op), Some(FOp::Relu));
    let fout = if relu { i + 2 } else { i + 1 };
    let out_q = if fout >= end {
        None
    } else {
        Some(src.point(name, fout, false)?)
    };
    Ok((relu, fout, out_q))
}

/// Builds the integer plan of `plan` with numbers from `src`.
pub(crate) fn build(plan: &FloatPlan, src: &mut dyn Source) -> Result<(QParams, Vec<QOp>), QuantError> {
    let input_q = src.point("input", 0, true)?;
    let steps = &plan.steps;
    // Identity steps (dropout) at the end do not count as layers.
    let end = steps
        .iter()
        .rposition(|s| !matches!(s.op, FOp::Identity))
        .map_or(0, |p| p + 1);
    let mut ops = Vec::new();
    let mut flat: Option<Dims> = None;
    // The parameters the current activation has at run time, and per open
    // residual connection the saved operand's float point and parameters.
    let mut cur_q = input_q;
    let mut saved: Vec<(usize, QParams)> = Vec::new();
    let mut i = 0;
    while i < end {
        let s = &steps[i];
        match &s.op {
            FOp::ResBegin => {
                // The saved copy and the current value are in canonical order.
                flat = None;
                saved.push((i, cur_q));
                ops.push(QOp::Push);
            }
            FOp::ResShortcut => {
                // The block's output is saved; the shortcut runs on the residual's input.
                let (_, q) = saved
                    .pop()
                    .ok_or_else(|| QuantError::Format("unbalanced residual".into()))?;
                saved.push((i, cur_q));
                cur_q = q;
                flat = None;
                ops.push(QOp::Swap);
            }
            FOp::ResAdd => {
                let (fa, a_q) = saved
                    .pop()
                    .ok_or_else(|| QuantError::Format("unbalanced residual".into()))?;
                let name = format!("{}.add", s.name);
                let (relu, fout, out_q) = fused_output(steps, i, end, &name, src)?;
                ops.push(QOp::Add(Box::new(QAdd {
                    name,
                    kind: s.kind.clone(),
                    relu,
                    a_q,
                    b_q: cur_q,
                    out_q,
                    dims: s.out_dims,
                    fa,
                    fb: i,
                    fout,
                })));
                cur_q = out_q.unwrap_or(cur_q);
                flat = None;
                i = fout;
                continue;
            }
            FOp::Conv { .. } | FOp::Linear { .. } => {
                let in_q = src.point(&s.name, i, true)?;
                let (relu, fout, out_q) = fused_output(steps, i, end, &s.name, src)?;
                let (conv, w, b, rows) = match &s.op {
                    FOp::Conv {
                        oc,
                        k,
                        stride,
                        pad,
                        w,
                        b,
                        ..
                    } => (Some((*k, *stride, *pad)), w, b, *oc),
                    FOp::Linear { o, w, b, .. } => (None, w, b, *o),
                    _ => unreachable!(),
                };
                let (w_q, w_scales, bias) = src.weights(&s.name, w, b, rows)?;
                let cols = w.len() / rows;
                if w_q.len() != w.len() || w_scales.len() != rows || bias.len() != rows {
                    return Err(QuantError::Format(format!(
                        "layer `{}`: tensors of the wrong size",
                        s.name
                    )));
                }
                let flat_perm = if conv.is_none() { flat.take() } else { None };
                let gemm_w = match (conv, flat_perm) {
                    (Some((k, _, _)), _) => conv_gemm_order(&w_q, rows, s.in_dims.0, k),
                    (None, Some(d)) => flat_gemm_order(&w_q, rows, d),
                    (None, None) => w_q.clone(),
                };
                let packed = PackedB::pack(&gemm_w, rows, cols);
                ops.push(QOp::Gemm(Box::new(QGemm {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    conv,
                    in_dims: s.in_dims,
                    out_dims: steps[fout - 1].out_dims,
                    w_q,
                    packed,
                    w_scales,
                    bias,
                    relu,
                    in_q,
                    out_q,
                    flat_perm,
                    fin: i,
                    fout,
                })));
                cur_q = out_q.unwrap_or(cur_q);
                i = fout;
                continue;
            }
            FOp::Relu => ops.push(QOp::Relu),
            &FOp::MaxPool { k, stride, pad } => ops.push(QOp::MaxPool {
                win: Window::new(k, stride, pad, s.out_dims),
                out: s.out_dims,
            }),
            &FOp::AvgPool { k, stride, pad } => ops.push(QOp::AvgPool {
                win: Window::new(k, stride, pad, s.out_dims),
                out: s.out_dims,
            }),
            FOp::GlobalAvg => ops.push(QOp::GlobalAvg),
            FOp::Flatten => {
                if s.in_dims.1 * s.in_dims.2 > 1 && s.in_dims.0 > 1 {
                    flat = Some(s.in_dims);
                }
                ops.push(QOp::Flatten)
            }
            FOp::Identity => {}
        }
        i += 1;
    }
    if !saved.is_empty() {
        return Err(QuantError::Format("unbalanced residual".into()));
    }
    Ok((input_q, ops))
}

/// Quantizes a canonical (NCHW) `f32` batch to NHWC `u8`.
pub(crate) fn quantize_act(x: &[f32], n: usize, dims: Dims, q: QParams) -> Act {
    let inv = 1.0 / q.scale;
    let zp = q.zero_point;
    let mut data = take(x.len(), 0);
    for (d, &v) in data.iter_mut().zip(x) {
        *d = (super::observer::round_i32(v * inv) + zp).clamp(0, 255) as u8;
    }
    if dims.0 > 1 && dims.1 * dims.2 > 1 {
        let t = nchw_to_nhwc(&data, n, dims);
        give(std::mem::replace(&mut data, t));
    }
    Act::Q {
        data,
        q,
        dims,
        flat_from: None,
    }
}

/// The canonical (NCHW, CHW-flattened) `f32` values of an activation.
pub(crate) fn canonical(act: &Act, n: usize) -> Vec<f32> {
    match act {
        Act::F { data } => data.clone(),
        Act::Q {
            data,
            q,
            dims,
            flat_from,
        } => {
            let f: Vec<f32> = data.iter().map(|&v| q.dequantize(v as i32)).collect();
            match flat_from {
                Some(d) => nhwc_to_nchw(&f, n, *d),
                None => nhwc_to_nchw(&f, n, *dims),
            }
        }
    }
}

/// An activation flattened from NHWC back in canonical (CHW) order.
fn canonical_order(act: Act, n: usize) -> Act {
    match act {
        Act::Q {
            data,
            q,
            dims,
            flat_from: Some(d),
        } => {
            let t = nhwc_to_nchw(&data, n, d);
            give(data);
            Act::Q {
                data: t,
                q,
                dims,
                flat_from: None,
            }
        }
        a => a,
    }
}

/// Runs one op on a batch of `n`; `stack` holds the activations saved by
/// residual connections (empty at the start).
pub(crate) fn apply(op: &QOp, act: Act, n: usize, path: QgemmPath, stack: &mut Vec<Act>) -> Act {
    match op {
        QOp::Push => {
            let act = canonical_order(act, n);
            let copy = match &act {
                Act::Q { data, q, dims, .. } => {
                    let mut d = take(data.len(), 0);
                    d.copy_from_slice(data);
                    Act::Q {
                        data: d,
                        q: *q,
                        dims: *dims,
                        flat_from: None,
                    }
                }
                Act::F { data } => Act::F { data: data.clone() },
            };
            stack.push(copy);
            return act;
        }
        QOp::Swap => {
            let x = stack.pop().expect("a residual starts before its shortcut");
            stack.push(act);
            return x;
        }
        QOp::Add(g) => {
            let a = canonical_order(stack.pop().expect("a residual starts before its add"), n);
            let b = canonical_order(act, n);
            let (Act::Q { data: da, q: qa, .. }, Act::Q { data: db, q: qb, .. }) = (a, b) else {
                unreachable!("a float activation is only produced by the last layer")
            };
            return match g.out_q {
                Some(oq) => {
                    let mut y = take(da.len(), 0);
                    add_u8(
                        &da,
                        (qa.scale, qa.zero_point),
                        &db,
                        (qb.scale, qb.zero_point),
                        (oq.scale, oq.zero_point),
                        g.relu,
                        &mut y,
                    );
                    give(da);
                    give(db);
                    Act::Q {
                        data: y,
                        q: oq,
                        dims: g.dims,
                        flat_from: None,
                    }
                }
                None => {
                    // The last layer: the sum in `f32`.
                    let y: Vec<f32> = da
                        .iter()
                        .zip(&db)
                        .map(|(&x, &y)| {
                            let v = qa.dequantize(x as i32) + qb.dequantize(y as i32);
                            if g.relu {
                                v.max(0.0)
                            } else {
                                v
                            }
                        })
                        .collect();
                    give(da);
                    give(db);
                    Act::F {
                        data: nhwc_to_nchw(&y, n, g.dims),
                    }
                }
            };
        }
        _ => {}
    }
    let Act::Q {
        data,
        q,
        dims,
        flat_from,
    } = act
    else {
        unreachable!("a float activation is only produced by the last layer")
    };
    match op {
        QOp::Push | QOp::Swap | QOp::Add(_) => unreachable!("handled above"),
        QOp::Gemm(g) => {
            let kp = g.packed.k_padded();
            let k = g.packed.k();
            let mut col = Vec::new();
            let (m, a): (usize, &[u8]) = match g.conv {
                Some((kk, stride, pad)) => {
                    let win = Window::new(kk, stride, pad, g.out_dims);
                    col = im2col_nhwc(&data, n, dims, win, q.zero_point as u8, kp);
                    (n * win.oh * win.ow, &col)
                }
                None if kp == k => (n, &data),
                None => {
                    col = take(n * kp, 0);
                    for (d, s) in col.chunks_exact_mut(kp).zip(data.chunks_exact(k)) {
                        d[..k].copy_from_slice(s);
                    }
                    (n, &col)
                }
            };
            let epi = epilogue(q, &g.w_scales, &g.bias, g.relu);
            let oc = g.packed.n();
            match g.out_q {
                Some(oq) => {
                    let mut y = take(m * oc, 0);
                    let out = QOut::U8 {
                        out: &mut y,
                        scale: oq.scale,
                        zero_point: oq.zero_point,
                    };
                    qgemm(path, m, a, kp, &g.packed, &epi, out, oc);
                    give(col);
                    give(data);
                    Act::Q {
                        data: y,
                        q: oq,
                        dims: g.out_dims,
                        flat_from: None,
                    }
                }
                None => {
                    let mut y = vec![0f32; m * oc];
                    qgemm(path, m, a, kp, &g.packed, &epi, QOut::F32(&mut y), oc);
                    give(col);
                    give(data);
                    Act::F {
                        data: nhwc_to_nchw(&y, n, g.out_dims),
                    }
                }
            }
        }
        QOp::MaxPool { .. } | QOp::AvgPool { .. } | QOp::GlobalAvg => {
            let (y, out) = match op {
                QOp::MaxPool { win, out } => (max_pool_nhwc(&data, n, dims, *win), *out),
                QOp::AvgPool { win, out } => (avg_pool_nhwc(&data, n, dims, *win, q.zero_point as u8), *out),
                _ => (global_avg_nhwc(&data, n, dims), (dims.0, 1, 1)),
            };
            give(data);
            Act::Q {
                data: y,
                q,
                dims: out,
                flat_from: None,
            }
        }
        QOp::Relu => {
            let z = q.zero_point.clamp(0, 255) as u8;
            let mut data = data;
            data.iter_mut().for_each(|v| *v = (*v).max(z));
            Act::Q {
                data,
                q,
                dims,
                flat_from,
            }
        }
        QOp::Flatten => {
            let (c, h, w) = dims;
            Act::Q {
                data,
                q,
                dims: (c * h * w, 1, 1),
                flat_from: if h * w > 1 && c > 1 { Some(dims) } else { flat_from },
            }
        }
    }
}

impl<N> Quantized<N> {
    /// The integer GEMM path this model runs on (by default
    /// [`QgemmPath::selected`]).
    pub fn path(&self) -> QgemmPath {
        self.path
    }

    /// Runs on `path` from now on (to compare paths or force the AVX2 one).
    ///
    /// # Errors
    /// [`QuantError::PathUnavailable`] when this CPU lacks it.
    pub fn set_path(&mut self, path: QgemmPath) -> Result<(), QuantError> {
        self.path = available(path)?;
        Ok(())
    }

    /// The names of the quantized (integer GEMM) layers, in order.
    pub fn layer_names(&self) -> Vec<String> {
        self.gemms().map(|g| g.name.clone()).collect()
    }

    pub(crate) fn adds(&self) -> impl Iterator<Item = &QAdd> {
        self.ops.iter().filter_map(|o| match o {
            QOp::Add(a) => Some(&**a),
            _ => None,
        })
    }

    pub(crate) fn gemms(&self) -> impl Iterator<Item = &QGemm> {
        self.ops.iter().filter_map(|o| match o {
            QOp::Gemm(g) => Some(&**g),
            _ => None,
        })
    }

    pub(crate) fn ops_ref(&self) -> &[QOp] {
        &self.ops
    }

    pub(crate) fn input_q(&self) -> QParams {
        self.input_q
    }
}

impl<N: Network<Cpu, f32>> Quantized<N> {
    pub(crate) fn from_parts(input: Dims, input_q: QParams, ops: Vec<QOp>) -> Self {
        Self {
            input,
            input_q,
            ops,
            path: QgemmPath::selected(),
            _net: PhantomData,
        }
    }

    /// Inference on a batch: the input is quantized with the calibrated
    /// scale, every layer runs on integers, the output is `f32`.
    pub fn forward(&self, x: &Tensor<N::Input>) -> Tensor<N::Output> {
        let n = x.batch();
        let y = self.run(x.as_slice(), n);
        Tensor::from_vec(&Cpu, n, y).expect("the plan produces the network's output shape")
    }

    /// [`Quantized::forward`] on flat `f32` samples (`n` of them, NCHW).
    pub(crate) fn run(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut act = quantize_act(x, n, self.input, self.input_q);
        let mut stack = Vec::new();
        for op in &self.ops {
            act = apply(op, act, n, self.path, &mut stack);
        }
        canonical(&act, n)
    }

    /// Mean cross-entropy loss and accuracy on `data` (as
    /// [`Fit::evaluate`](crate::train::Fit::evaluate) with `CrossEntropy`).
    ///
    /// # Errors
    /// [`QuantError`]: `batch_size` 0, an empty data set, samples of the
    /// wrong size.
    pub fn evaluate<D: Dataset + ?Sized>(&self, data: &D, batch_size: usize) -> Result<Evaluation, QuantError> {
        evaluate_with(data, batch_size, N::Input::NUMEL_OF, N::Output::NUMEL_OF, |x, n| {
            self.run(x, n)
        })
    }
}

/// The GEMM epilogue of a layer whose input has parameters `a`: dequantize
/// with its weights' `w_scales`, add `bias`, then the fused ReLU if `relu`.
pub(crate) fn epilogue<'a>(a: QParams, w_scales: &'a [f32], bias: &'a [f32], relu: bool) -> Epilogue<'a> {
    Epilogue {
        a_zero_point: a.zero_point,
        a_scale: a.scale,
        w_scales,
        bias: Some(bias),
        relu,
    }
}

/// `path`, or the error saying that this CPU lacks it.
pub(crate) fn available(path: QgemmPath) -> Result<QgemmPath, QuantError> {
    if path.is_available() {
        Ok(path)
    } else {
        Err(QuantError::PathUnavailable(path))
    }
}

/// Checks that `data` holds samples of `in_len` values, and at least one.
pub(crate) fn check_data<D: Dataset + ?Sized>(data: &D, in_len: usize) -> Result<(), QuantError> {
    if data.is_empty() {
        return Err(QuantError::EmptyData);
    }
    if data.sample_len() != in_len {
        return Err(QuantError::SampleLen {
            expected: in_len,
            got: data.sample_len(),
        });
    }
    Ok(())
}

/// Shared by the quantized models: batches of `data` through `run`.
pub(crate) fn evaluate_with<D: Dataset + ?Sized>(
    data: &D,
    batch_size: usize,
    in_len: usize,
    out_len: usize,
    mut run: impl FnMut(&[f32], usize) -> Vec<f32>,
) -> Result<Evaluation, QuantError> {
    if batch_size == 0 {
        return Err(QuantError::InvalidConfig("batch size 0".into()));
    }
    check_data(data, in_len)?;
    let (mut loss, mut right) = (0f64, 0usize);
    let mut x = vec![0f32; batch_size * in_len];
    let mut labels = Vec::with_capacity(batch_size);
    let mut start = 0;
    while start < data.len() {
        let n = batch_size.min(data.len() - start);
        labels.clear();
        for i in 0..n {
            labels.push(data.get(start + i, &mut x[i * in_len..(i + 1) * in_len]));
        }
        let y = run(&x[..n * in_len], n);
        for (row, &label) in y.chunks_exact(out_len).zip(&labels) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = row.iter().map(|&v| ((v - max) as f64).exp()).sum::<f64>().ln() + max as f64;
            loss += lse - row.get(label).copied().unwrap_or(f32::NAN) as f64;
            let best = row
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b })
                .0;
            right += (best == label) as usize;
        }
        start += n;
    }
    Ok(Evaluation {
        loss: loss / data.len() as f64,
        accuracy: right as f64 / data.len() as f64,
        samples: data.len(),
        metrics: Default::default(),
    })
}

/// Runs the float plan over `config.calibration_samples` samples of
/// `data`, observing the input and every step's output.
pub(crate) fn calibrate<D: Dataset + ?Sized>(
    plan: &FloatPlan,
    data: &D,
    config: &QuantConfig,
) -> Result<Vec<RangeObserver>, QuantError> {
    let in_len = plan.input_len();
    check_data(data, in_len)?;
    let total = if config.calibration_samples == 0 {
        data.len()
    } else {
        config.calibration_samples.min(data.len())
    };
    let mut obs = vec![RangeObserver::new(config.observer); plan.steps.len() + 1];
    let mut start = 0;
    while start < total {
        let n = config.batch_size.min(total - start);
        let mut x = vec![0f32; n * in_len];
        for i in 0..n {
            data.get(start + i, &mut x[i * in_len..(i + 1) * in_len]);
        }
        obs[0].observe(&x);
        let mut stack = Vec::new();
        for s in 0..plan.steps.len() {
            x = plan.run_step(s, &x, n, &mut stack);
            obs[s + 1].observe(&x);
        }
        start += n;
    }
    Ok(obs)
}

/// The `NUMEL` of a shape, as a name that reads well above.
trait NumelOf {
    const NUMEL_OF: usize;
}
impl<S: dl_core::Shape> NumelOf for S {
    const NUMEL_OF: usize = S::NUMEL;
}
