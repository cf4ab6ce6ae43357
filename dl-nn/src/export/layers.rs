//! [`Describe`] for every built-in layer: the ONNX operators (opset 17,
//! default domain) that compute its inference forward pass.

use super::{Attr, ConstTensor, Describe, ExportError, GraphBuilder, TensorData, Value};
use crate::layers::{
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten, GELUTanh, GlobalAvgPool2d, LayerNorm,
    LeakyReLU, Linear, LocalAttention, LogSoftmax, MaxPool2d, MultiHeadAttention, ReLU, Residual, ResidualProj,
    SeqMean, Sigmoid, Softmax, Tanh, GELU,
};
use dl_core::ops::attention::AttnMask;
use dl_core::shape::conv_out;
use dl_core::{Backend, Float};

/// The error for a layer described on an input it does not take.
fn shape_err(prefix: &str, kind: &str, x: &Value, reason: impl Into<String>) -> ExportError {
    let layer = if prefix.is_empty() {
        kind.to_string()
    } else {
        prefix.trim_end_matches('.').to_string()
    };
    ExportError::Shape {
        layer,
        got: x.dims.clone(),
        reason: reason.into(),
    }
}

/// `[C, H, W]` of an image input, or the error.
fn chw(prefix: &str, kind: &str, x: &Value) -> Result<(usize, usize, usize), ExportError> {
    match x.dims.as_slice() {
        &[c, h, w] => Ok((c, h, w)),
        _ => Err(shape_err(prefix, kind, x, "expected an image [C, H, W]")),
    }
}

fn ints(v: &[usize]) -> Attr {
    Attr::Ints(v.iter().map(|&d| d as i64).collect())
}

/// A one-input node whose output has the input's shape.
fn same_shape(g: &mut GraphBuilder, prefix: &str, op: &str, x: &Value, attrs: Vec<(&str, Attr)>) -> Value {
    Value {
        name: g.node(prefix, op, &[&x.name], attrs),
        dims: x.dims.clone(),
    }
}

/// `x W^T + b` over the last axis: `Gemm` for a vector input, `MatMul` with
/// the transposed weight then `Add` for a sequence (or any higher rank).
fn linear(
    g: &mut GraphBuilder,
    prefix: &str,
    x: &Value,
    w: &str,
    b: &str,
    n_in: usize,
    n_out: usize,
) -> Result<Value, ExportError> {
    match x.dims.as_slice() {
        [d] if *d == n_in => Ok(Value {
            name: g.node(prefix, "Gemm", &[&x.name, w, b], vec![("transB", Attr::Int(1))]),
            dims: vec![n_out],
        }),
        [.., d] if *d == n_in => {
            let wt = g.node(prefix, "Transpose", &[w], vec![("perm", Attr::Ints(vec![1, 0]))]);
            let m = g.node(prefix, "MatMul", &[&x.name, &wt], vec![]);
            let y = g.node(prefix, "Add", &[&m, b], vec![]);
            let mut dims = x.dims.clone();
            *dims.last_mut().expect("non-empty") = n_out;
            Ok(Value { name: y, dims })
        }
        _ => Err(shape_err(
            prefix,
            "Linear",
            x,
            format!("expected the last axis to be {n_in}"),
        )),
    }
}

impl<const IN: usize, const OUT: usize, B: Backend, E: Float> Describe for Linear<IN, OUT, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let w = g.param(format!("{prefix}weight"), &[OUT, IN])?;
        let b = g.param(format!("{prefix}bias"), &[OUT])?;
        linear(g, prefix, x, &w, &b, IN, OUT)
    }
}

/// Output size of a window op along one axis, or the error.
fn window_out(
    prefix: &str,
    kind: &str,
    x: &Value,
    n: usize,
    k: usize,
    s: usize,
    p: usize,
) -> Result<usize, ExportError> {
    conv_out(n, k, s, p).ok_or_else(|| {
        shape_err(
            prefix,
            kind,
            x,
            format!("the window {k} (stride {s}, padding {p}) does not fit"),
        )
    })
}

/// The attributes of a square window op.
fn window_attrs(k: usize, s: usize, p: usize) -> Vec<(&'static str, Attr)> {
    vec![
        ("kernel_shape", ints(&[k, k])),
        ("strides", ints(&[s, s])),
        ("pads", ints(&[p, p, p, p])),
    ]
}

impl<
        const IN_C: usize,
        const OUT_C: usize,
        const K: usize,
        const STRIDE: usize,
        const PAD: usize,
        B: Backend,
        E: Float,
    > Describe for Conv2d<IN_C, OUT_C, K, STRIDE, PAD, B, E>
{
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let (c, h, w) = chw(prefix, "Conv2d", x)?;
        if c != IN_C {
            return Err(shape_err(prefix, "Conv2d", x, format!("expected {IN_C} channels")));
        }
        let oh = window_out(prefix, "Conv2d", x, h, K, STRIDE, PAD)?;
        let ow = window_out(prefix, "Conv2d", x, w, K, STRIDE, PAD)?;
        let wt = g.param(format!("{prefix}weight"), &[OUT_C, IN_C, K, K])?;
        let b = g.param(format!("{prefix}bias"), &[OUT_C])?;
        let mut attrs = window_attrs(K, STRIDE, PAD);
        attrs.push(("dilations", ints(&[1, 1])));
        attrs.push(("group", Attr::Int(1)));
        Ok(Value {
            name: g.node(prefix, "Conv", &[&x.name, &wt, &b], attrs),
            dims: vec![OUT_C, oh, ow],
        })
    }
}

/// `MaxPool` or `AveragePool` with a square window.
fn pool(
    g: &mut GraphBuilder,
    prefix: &str,
    x: &Value,
    op: &str,
    k: usize,
    s: usize,
    p: usize,
) -> Result<Value, ExportError> {
    let (c, h, w) = chw(prefix, op, x)?;
    let oh = window_out(prefix, op, x, h, k, s, p)?;
    let ow = window_out(prefix, op, x, w, k, s, p)?;
    let mut attrs = window_attrs(k, s, p);
    if op == "AveragePool" {
        // Padding counts as zeros in the average, as PyTorch's default.
        attrs.push(("count_include_pad", Attr::Int(1)));
    }
    Ok(Value {
        name: g.node(prefix, op, &[&x.name], attrs),
        dims: vec![c, oh, ow],
    })
}

impl<const K: usize, const STRIDE: usize, const PAD: usize, B: Backend, E: Float> Describe
    for MaxPool2d<K, STRIDE, PAD, B, E>
{
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        pool(g, prefix, x, "MaxPool", K, STRIDE, PAD)
    }
}

impl<const K: usize, const STRIDE: usize, const PAD: usize, B: Backend, E: Float> Describe
    for AvgPool2d<K, STRIDE, PAD, B, E>
{
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        pool(g, prefix, x, "AveragePool", K, STRIDE, PAD)
    }
}

impl<B: Backend, E: Float> Describe for GlobalAvgPool2d<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let (c, _, _) = chw(prefix, "GlobalAvgPool2d", x)?;
        let p = g.node(prefix, "GlobalAveragePool", &[&x.name], vec![]);
        Ok(Value {
            name: g.node(prefix, "Flatten", &[&p], vec![("axis", Attr::Int(1))]),
            dims: vec![c],
        })
    }
}

impl<B: Backend, E: Float> Describe for Flatten<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        Ok(Value {
            name: g.node(prefix, "Flatten", &[&x.name], vec![("axis", Attr::Int(1))]),
            dims: vec![x.dims.iter().product()],
        })
    }
}

/// Element-wise layers that are one ONNX operator.
macro_rules! describe_unary {
    ($($name:ident => $op:literal),* $(,)?) => {$(
        impl<B: Backend, E: Float> Describe for $name<B, E> {
            fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
                Ok(same_shape(g, prefix, $op, x, vec![]))
            }
        }
    )*};
}
describe_unary!(ReLU => "Relu", Sigmoid => "Sigmoid", Tanh => "Tanh");

impl<B: Backend, E: Float> Describe for LeakyReLU<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        Ok(same_shape(
            g,
            prefix,
            "LeakyRelu",
            x,
            vec![("alpha", Attr::Float(self.slope as f32))],
        ))
    }
}

impl<B: Backend, E: Float> Describe for Softmax<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        Ok(same_shape(g, prefix, "Softmax", x, vec![("axis", Attr::Int(-1))]))
    }
}

impl<B: Backend, E: Float> Describe for LogSoftmax<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        Ok(same_shape(g, prefix, "LogSoftmax", x, vec![("axis", Attr::Int(-1))]))
    }
}

/// `a op b` (element-wise, broadcasting), same shape as `x`.
fn binary(g: &mut GraphBuilder, prefix: &str, op: &str, a: &str, b: &str) -> String {
    g.node(prefix, op, &[a, b], vec![])
}

/// `x * 0.5 * (1 + t)`, the form both GELUs share (`t` is `erf(x / sqrt 2)`
/// or its tanh approximation).
fn gelu_from(g: &mut GraphBuilder, prefix: &str, x: &Value, t: &str) -> Value {
    let one = g.scalar(prefix, 1.0);
    let half = g.scalar(prefix, 0.5);
    let t = binary(g, prefix, "Add", t, &one);
    let t = binary(g, prefix, "Mul", &x.name, &t);
    Value::new(binary(g, prefix, "Mul", &t, &half), &x.dims)
}

impl<B: Backend, E: Float> Describe for GELU<B, E> {
    /// Opset 17 has no `Gelu`: `x * 0.5 * (1 + erf(x / sqrt 2))`.
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let r = g.scalar(prefix, std::f32::consts::FRAC_1_SQRT_2);
        let t = binary(g, prefix, "Mul", &x.name, &r);
        let t = g.node(prefix, "Erf", &[&t], vec![]);
        Ok(gelu_from(g, prefix, x, &t))
    }
}

impl<B: Backend, E: Float> Describe for GELUTanh<B, E> {
    /// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`.
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let c = g.scalar(prefix, (2.0 / std::f64::consts::PI).sqrt() as f32);
        let a = g.scalar(prefix, 0.044715);
        let x2 = binary(g, prefix, "Mul", &x.name, &x.name);
        let x3 = binary(g, prefix, "Mul", &x2, &x.name);
        let t = binary(g, prefix, "Mul", &x3, &a);
        let t = binary(g, prefix, "Add", &x.name, &t);
        let t = binary(g, prefix, "Mul", &t, &c);
        let t = g.node(prefix, "Tanh", &[&t], vec![]);
        Ok(gelu_from(g, prefix, x, &t))
    }
}

impl<const P_PERCENT: usize, B: Backend, E: Float> Describe for Dropout<P_PERCENT, B, E> {
    /// Inference: the identity.
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        Ok(same_shape(g, prefix, "Identity", x, vec![]))
    }
}

/// `BatchNormalization` on running statistics (inference).
fn batchnorm(
    g: &mut GraphBuilder,
    prefix: &str,
    x: &Value,
    c: usize,
    cfg: dl_core::ops::batchnorm::BatchNormConfig,
) -> Result<Value, ExportError> {
    let names = ["weight", "bias", "running_mean", "running_var"];
    let mut inputs = vec![x.name.clone()];
    for n in names {
        inputs.push(g.param(format!("{prefix}{n}"), &[c])?);
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let attrs = vec![
        ("epsilon", Attr::Float(cfg.eps as f32)),
        // ONNX's momentum weighs the running value (PyTorch's weighs the new one).
        ("momentum", Attr::Float((1.0 - cfg.momentum) as f32)),
    ];
    Ok(Value {
        name: g.node(prefix, "BatchNormalization", &inputs, attrs),
        dims: x.dims.clone(),
    })
}

impl<const C: usize, B: Backend, E: Float> Describe for BatchNorm1d<C, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        if x.dims != [C] {
            return Err(shape_err(prefix, "BatchNorm1d", x, format!("expected [{C}]")));
        }
        batchnorm(g, prefix, x, C, self.config)
    }
}

impl<const C: usize, B: Backend, E: Float> Describe for BatchNorm2d<C, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let (c, _, _) = chw(prefix, "BatchNorm2d", x)?;
        if c != C {
            return Err(shape_err(prefix, "BatchNorm2d", x, format!("expected {C} channels")));
        }
        batchnorm(g, prefix, x, C, self.config)
    }
}

impl<const D: usize, B: Backend, E: Float> Describe for LayerNorm<D, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        if x.dims.last() != Some(&D) {
            return Err(shape_err(
                prefix,
                "LayerNorm",
                x,
                format!("expected the last axis to be {D}"),
            ));
        }
        let w = g.param(format!("{prefix}weight"), &[D])?;
        let b = g.param(format!("{prefix}bias"), &[D])?;
        let attrs = vec![("axis", Attr::Int(-1)), ("epsilon", Attr::Float(self.eps as f32))];
        Ok(Value {
            name: g.node(prefix, "LayerNormalization", &[&x.name, &w, &b], attrs),
            dims: x.dims.clone(),
        })
    }
}

impl<const VOCAB: usize, const DIM: usize, B: Backend, E: Float> Describe for Embedding<VOCAB, DIM, B, E> {
    /// The float ids are cast to int64 and `Gather` picks the rows.
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let &[t] = x.dims.as_slice() else {
            return Err(shape_err(prefix, "Embedding", x, "expected a sequence of ids [T]"));
        };
        let w = g.param(format!("{prefix}weight"), &[VOCAB, DIM])?;
        // TensorProto.DataType INT64 = 7.
        let ids = g.node(prefix, "Cast", &[&x.name], vec![("to", Attr::Int(7))]);
        Ok(Value {
            name: g.node(prefix, "Gather", &[&w, &ids], vec![("axis", Attr::Int(0))]),
            dims: vec![t, DIM],
        })
    }
}

impl<B: Backend, E: Float> Describe for SeqMean<B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let &[_, d] = x.dims.as_slice() else {
            return Err(shape_err(prefix, "SeqMean", x, "expected a sequence [T, D]"));
        };
        // Opset 17: `axes` is still an attribute of ReduceMean (an input from 18).
        let attrs = vec![("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))];
        Ok(Value {
            name: g.node(prefix, "ReduceMean", &[&x.name], attrs),
            dims: vec![d],
        })
    }
}

impl<Blk: Describe, B: Backend, E: Float> Describe for Residual<Blk, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        // The block's parameters are unprefixed, as in `visit`.
        let y = self.block.describe(g, prefix, x)?;
        if y.dims != x.dims {
            return Err(shape_err(
                prefix,
                "Residual",
                x,
                format!("the block gives {:?}", y.dims),
            ));
        }
        Ok(Value {
            name: binary(g, prefix, "Add", &y.name, &x.name),
            dims: y.dims,
        })
    }
}

impl<Blk: Describe, Proj: Describe, B: Backend, E: Float> Describe for ResidualProj<Blk, Proj, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let y = self.block.describe(g, prefix, x)?;
        let s = self.shortcut.describe(g, &format!("{prefix}shortcut."), x)?;
        if y.dims != s.dims {
            return Err(shape_err(
                prefix,
                "ResidualProj",
                x,
                format!("the block gives {:?}, the shortcut {:?}", y.dims, s.dims),
            ));
        }
        Ok(Value {
            name: binary(g, prefix, "Add", &y.name, &s.name),
            dims: y.dims,
        })
    }
}

/// Multi-head self-attention decomposed into opset-17 operators: the input
/// projection (`MatMul` + `Add`), `Split` into Q, K, V, heads by `Reshape`
/// and `Transpose`, `MatMul` of Q and K^T scaled by `1 / sqrt(d_head)`, the
/// mask as an additive constant (`0` or `-inf`), `Softmax`, `MatMul` with
/// V, heads merged back, and the output projection.
fn attention<B: Backend, E: Float, const D: usize>(
    g: &mut GraphBuilder,
    prefix: &str,
    x: &Value,
    heads: usize,
    mask: AttnMask,
    out_proj: &Linear<D, D, B, E>,
) -> Result<Value, ExportError> {
    let &[t, d] = x.dims.as_slice() else {
        return Err(shape_err(
            prefix,
            "MultiHeadAttention",
            x,
            format!("expected a sequence [T, {D}]"),
        ));
    };
    if d != D || heads == 0 || !D.is_multiple_of(heads) {
        return Err(shape_err(prefix, "MultiHeadAttention", x, format!("expected [T, {D}]")));
    }
    let dh = D / heads;
    let (dh_i, heads_i, d_i) = (dh as i64, heads as i64, D as i64);
    let w = g.param(format!("{prefix}in_proj_weight"), &[3 * D, D])?;
    let b = g.param(format!("{prefix}in_proj_bias"), &[3 * D])?;
    let wt = g.node(prefix, "Transpose", &[&w], vec![("perm", Attr::Ints(vec![1, 0]))]);
    let qkv = g.node(prefix, "MatMul", &[&x.name, &wt], vec![]);
    let qkv = binary(g, prefix, "Add", &qkv, &b);
    let split = g.ints(prefix, &[d_i, d_i, d_i]);
    let parts = g.node_multi(prefix, "Split", &[&qkv, &split], vec![("axis", Attr::Int(-1))], 3);
    let heads_shape = g.ints(prefix, &[0, 0, heads_i, dh_i]);
    let split_heads = |g: &mut GraphBuilder, v: &str, perm: Vec<i64>| {
        let r = g.node(prefix, "Reshape", &[v, &heads_shape], vec![]);
        g.node(prefix, "Transpose", &[&r], vec![("perm", Attr::Ints(perm))])
    };
    let q = split_heads(g, &parts[0], vec![0, 2, 1, 3]); // [N, H, T, dh]
    let kt = split_heads(g, &parts[1], vec![0, 2, 3, 1]); // [N, H, dh, T]
    let v = split_heads(g, &parts[2], vec![0, 2, 1, 3]); // [N, H, T, dh]
    let s = g.node(prefix, "MatMul", &[&q, &kt], vec![]);
    let scale = g.scalar(prefix, (1.0 / (dh as f64).sqrt()) as f32);
    let mut s = binary(g, prefix, "Mul", &s, &scale);
    if mask.causal || mask.window.is_some() {
        let mut m = vec![0.0f32; t * t];
        for i in 0..t {
            for j in 0..t {
                let hidden = (mask.causal && j > i) || mask.window.is_some_and(|w| i.abs_diff(j) > w);
                if hidden {
                    m[i * t + j] = f32::NEG_INFINITY;
                }
            }
        }
        let m = g.constant(
            prefix,
            ConstTensor {
                dims: vec![t, t],
                data: TensorData::F32(m),
            },
        );
        s = binary(g, prefix, "Add", &s, &m);
    }
    let p = g.node(prefix, "Softmax", &[&s], vec![("axis", Attr::Int(-1))]);
    let c = g.node(prefix, "MatMul", &[&p, &v], vec![]);
    let c = g.node(prefix, "Transpose", &[&c], vec![("perm", Attr::Ints(vec![0, 2, 1, 3]))]);
    let merged = g.ints(prefix, &[0, 0, d_i]);
    let c = g.node(prefix, "Reshape", &[&c, &merged], vec![]);
    out_proj.describe(g, &format!("{prefix}out_proj."), &Value::new(c, &[t, D]))
}

impl<const D_MODEL: usize, const HEADS: usize, const CAUSAL: bool, B: Backend, E: Float> Describe
    for MultiHeadAttention<D_MODEL, HEADS, CAUSAL, B, E>
{
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        attention(g, prefix, x, HEADS, Self::mask(), &self.out_proj)
    }
}

impl<const D_MODEL: usize, const HEADS: usize, const WINDOW: usize, B: Backend, E: Float> Describe
    for LocalAttention<D_MODEL, HEADS, WINDOW, B, E>
{
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        attention(g, prefix, x, HEADS, Self::mask(), &self.out_proj)
    }
}
