//! Attention: scaled dot-product attention, [`MultiHeadAttention`] and
//! [`LocalAttention`].
//!
//! The computation lives in shape-agnostic functions on flat buffers with
//! runtime dimensions ([`sdpa_forward`], [`sdpa_backward`], [`mha_forward`],
//! [`mha_backward`]); the golden runner and the typed layers call the same
//! code. Every matrix product is a strided batched GEMM over
//! `batch * heads` problems (`scores = q k^T` uses `k` transposed in place,
//! no copies); the mask is applied by a fused in-place softmax that skips
//! masked keys ([`dl_core::ops::attention`]).
//!
//! Multi-head layout: the input projection writes `[n, t, 3 * d_model]`
//! (`q | k | v`, PyTorch's `in_proj_weight` row order); it is split once
//! into head-major `[heads, n, t, head_dim]` buffers so that each
//! (head, sample) matrix is contiguous; the attention output is merged back
//! to `[n, t, d_model]` (heads concatenated in order) before the output
//! projection.
//!
//! **PyTorch equivalent**: `F.scaled_dot_product_attention`,
//! `nn.MultiheadAttention(d_model, heads, batch_first=True)`.

mod layer;
#[cfg(test)]
mod tests;

pub use dl_core::ops::attention::AttnMask;
pub use layer::{AttentionCache, LocalAttention, MultiHeadAttention};

use crate::layers::linear::{linear_backward, linear_forward, WeightGrads};
use dl_core::ops::attention::{HeadDims, ScoreDims};
use dl_core::ops::matmul::{Batch, Gemm, GemmWorkspace};
use dl_core::{Backend, Error, Float, Result, Tensor, S2};

/// Dimensions of `count` independent attention problems (batch times heads):
/// `q [count, tq, d]`, `k [count, tk, d]`, `v [count, tk, dv]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SdpaDims {
    /// Number of independent problems (`batch * heads`).
    pub count: usize,
    /// Queries per problem.
    pub tq: usize,
    /// Keys (and values) per problem.
    pub tk: usize,
    /// Query/key features.
    pub d: usize,
    /// Value features.
    pub dv: usize,
    /// Logit scale (PyTorch's default is `1 / sqrt(d)`).
    pub scale: f64,
    /// Which keys each query sees.
    pub mask: AttnMask,
}

impl SdpaDims {
    fn batch(&self, a: usize, b: usize, c: usize) -> Batch {
        Batch {
            count: self.count,
            a_stride: a,
            b_stride: b,
            c_stride: c,
            ..Default::default()
        }
    }
}

/// Forward on flat buffers: `p = masked_softmax(scale q k^T)` (kept for the
/// backward, `[count, tq, tk]`) and `out = p v` (`[count, tq, dv]`); both
/// are resized. `ws` is the GEMMs' packing memory (keep it and reuse it).
#[allow(clippy::too_many_arguments)]
pub fn sdpa_forward<B: Backend, E: Float>(
    dev: &B,
    ws: &mut GemmWorkspace,
    d: SdpaDims,
    q: &B::Buf<E>,
    k: &B::Buf<E>,
    v: &B::Buf<E>,
    p: &mut B::Buf<E>,
    out: &mut B::Buf<E>,
) {
    let (tq, tk) = (d.tq, d.tk);
    dev.resize(p, d.count * tq * tk);
    dev.resize(out, d.count * tq * d.dv);
    let mut g = Gemm::new(tq, tk, d.d, false, true);
    g.alpha = E::from_f64(d.scale);
    dev.gemm_batched_ws(ws, g, d.batch(tq * d.d, tk * d.d, tq * tk), q, k, p);
    dev.masked_softmax_forward(ScoreDims::new(d.count, tq, tk, d.mask), p);
    dev.gemm_batched_ws(
        ws,
        Gemm::new(tq, d.dv, tk, false, false),
        d.batch(tq * tk, tk * d.dv, tq * d.dv),
        p,
        v,
        out,
    );
}

/// Backward on flat buffers from the forward's `p` and the output gradient
/// `dout`: writes (overwrites, resizing) `dq`, `dk`, `dv`. `dp` is a
/// workspace of `count * tq * tk` elements (resized); `ws` is the GEMMs'
/// packing memory.
#[allow(clippy::too_many_arguments)]
pub fn sdpa_backward<B: Backend, E: Float>(
    dev: &B,
    ws: &mut GemmWorkspace,
    d: SdpaDims,
    q: &B::Buf<E>,
    k: &B::Buf<E>,
    v: &B::Buf<E>,
    p: &B::Buf<E>,
    dout: &B::Buf<E>,
    dp: &mut B::Buf<E>,
    dq: &mut B::Buf<E>,
    dk: &mut B::Buf<E>,
    dv: &mut B::Buf<E>,
) {
    let (tq, tk) = (d.tq, d.tk);
    dev.resize(dp, d.count * tq * tk);
    dev.resize(dq, d.count * tq * d.d);
    dev.resize(dk, d.count * tk * d.d);
    dev.resize(dv, d.count * tk * d.dv);
    // dP = dO V^T
    dev.gemm_batched_ws(
        ws,
        Gemm::new(tq, tk, d.dv, false, true),
        d.batch(tq * d.dv, tk * d.dv, tq * tk),
        dout,
        v,
        dp,
    );
    // dV = P^T dO
    dev.gemm_batched_ws(
        ws,
        Gemm::new(tk, d.dv, tq, true, false),
        d.batch(tq * tk, tq * d.dv, tk * d.dv),
        p,
        dout,
        dv,
    );
    // dS (in place over dP), zero on masked keys.
    dev.masked_softmax_backward(ScoreDims::new(d.count, tq, tk, d.mask), p, dp);
    let scale = E::from_f64(d.scale);
    // dQ = scale dS K
    let mut g = Gemm::new(tq, d.d, tk, false, false);
    g.alpha = scale;
    dev.gemm_batched_ws(ws, g, d.batch(tq * tk, tk * d.d, tq * d.d), dp, k, dq);
    // dK = scale dS^T Q
    let mut g = Gemm::new(tk, d.d, tq, true, false);
    g.alpha = scale;
    dev.gemm_batched_ws(ws, g, d.batch(tq * tk, tq * d.d, tk * d.d), dp, q, dk);
}

/// [`sdpa_forward`] then [`sdpa_backward`] for the output gradient `dout`:
/// returns the output and writes (overwrites, resizing) `dq`, `dk`, `dv`.
/// The probabilities and their gradient are this call's scratch.
pub(crate) fn sdpa_forward_backward<B: Backend, E: Float>(
    dev: &B,
    ws: &mut GemmWorkspace,
    d: SdpaDims,
    [q, k, v]: [&B::Buf<E>; 3],
    dout: &B::Buf<E>,
    [dq, dk, dv]: [&mut B::Buf<E>; 3],
) -> B::Buf<E> {
    let (mut p, mut out, mut dp) = (dev.zeros(0), dev.zeros(0), dev.zeros(0));
    sdpa_forward(dev, ws, d, q, k, v, &mut p, &mut out);
    sdpa_backward(dev, ws, d, q, k, v, &p, dout, &mut dp, dq, dk, dv);
    out
}

/// Options of [`scaled_dot_product_attention`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SdpaOptions {
    /// Logit scale; `None` is PyTorch's default `1 / sqrt(D)`.
    pub scale: Option<f64>,
    /// Which keys each query sees (default: all).
    pub mask: AttnMask,
}

fn sdpa_typed_dims<const TQ: usize, const TK: usize, const D: usize, const DV: usize, B: Backend, E: Float>(
    q: &Tensor<S2<TQ, D>, B, E>,
    k: &Tensor<S2<TK, D>, B, E>,
    v: &Tensor<S2<TK, DV>, B, E>,
    opts: SdpaOptions,
) -> Result<SdpaDims> {
    for (name, other) in [("k", k.shape()), ("v", v.shape())] {
        if other[0] != q.batch() {
            return Err(Error::ShapeMismatch {
                op: if name == "k" {
                    "scaled_dot_product_attention (q vs k batch)"
                } else {
                    "scaled_dot_product_attention (q vs v batch)"
                },
                lhs: q.shape(),
                rhs: other,
            });
        }
    }
    let scale = opts.scale.unwrap_or(1.0 / (D.max(1) as f64).sqrt());
    if !scale.is_finite() {
        return Err(Error::InvalidArgument {
            op: "scaled_dot_product_attention",
            msg: format!("scale must be finite, got {scale}"),
        });
    }
    Ok(SdpaDims {
        count: q.batch(),
        tq: TQ,
        tk: TK,
        d: D,
        dv: DV,
        scale,
        mask: opts.mask,
    })
}

/// `softmax(q k^T * scale + mask) v` per sample: `q [TQ, D]`, `k [TK, D]`,
/// `v [TK, DV]` -> `[TQ, DV]`. Masked logits are `-inf`; a query that sees
/// no key (possible only with a window narrower than `TQ - TK`) gets a zero
/// output row where PyTorch would give NaN.
///
/// **PyTorch equivalent**: `F.scaled_dot_product_attention(q, k, v,
/// is_causal=causal, scale=scale)` on `[batch, T, D]` tensors.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::layers::attention::{scaled_dot_product_attention, AttnMask, SdpaOptions};
/// let q = Tensor::<S2<2, 1>>::from_vec(&Cpu, 1, vec![1.0, 1.0]).unwrap();
/// let v = Tensor::<S2<2, 1>>::from_vec(&Cpu, 1, vec![10.0, 20.0]).unwrap();
/// let causal = SdpaOptions { mask: AttnMask { causal: true, window: None }, ..Default::default() };
/// let out = scaled_dot_product_attention(&q, &q, &v, causal).unwrap().to_vec();
/// assert_eq!(out[0], 10.0); // the first query sees only the first key
/// assert!((out[1] - 15.0).abs() < 1e-5); // equal logits: the mean
/// ```
///
/// # Errors
/// [`Error::ShapeMismatch`] when the batch sizes differ,
/// [`Error::InvalidArgument`] for a non-finite scale.
pub fn scaled_dot_product_attention<
    const TQ: usize,
    const TK: usize,
    const D: usize,
    const DV: usize,
    B: Backend,
    E: Float,
>(
    q: &Tensor<S2<TQ, D>, B, E>,
    k: &Tensor<S2<TK, D>, B, E>,
    v: &Tensor<S2<TK, DV>, B, E>,
    opts: SdpaOptions,
) -> Result<Tensor<S2<TQ, DV>, B, E>> {
    let d = sdpa_typed_dims(q, k, v, opts)?;
    let dev = q.device();
    let mut p = dev.zeros(0);
    let mut out = Tensor::zeros(dev, q.batch());
    sdpa_forward(
        dev,
        &mut GemmWorkspace::new(),
        d,
        q.buf(),
        k.buf(),
        v.buf(),
        &mut p,
        out.buf_mut(),
    );
    Ok(out)
}

/// Gradients `(dq, dk, dv)` of [`scaled_dot_product_attention`] for the
/// output gradient `dout` (the attention probabilities are recomputed).
///
/// # Errors
/// As [`scaled_dot_product_attention`], and [`Error::ShapeMismatch`] when
/// `dout`'s batch differs.
#[allow(clippy::type_complexity)]
pub fn scaled_dot_product_attention_backward<
    const TQ: usize,
    const TK: usize,
    const D: usize,
    const DV: usize,
    B: Backend,
    E: Float,
>(
    q: &Tensor<S2<TQ, D>, B, E>,
    k: &Tensor<S2<TK, D>, B, E>,
    v: &Tensor<S2<TK, DV>, B, E>,
    opts: SdpaOptions,
    dout: &Tensor<S2<TQ, DV>, B, E>,
) -> Result<(
    Tensor<S2<TQ, D>, B, E>,
    Tensor<S2<TK, D>, B, E>,
    Tensor<S2<TK, DV>, B, E>,
)> {
    let d = sdpa_typed_dims(q, k, v, opts)?;
    if dout.batch() != q.batch() {
        return Err(Error::ShapeMismatch {
            op: "scaled_dot_product_attention_backward (q vs dout batch)",
            lhs: q.shape(),
            rhs: dout.shape(),
        });
    }
    let dev = q.device();
    let n = q.batch();
    let (mut dq, mut dk, mut dv) = (Tensor::zeros(dev, n), Tensor::zeros(dev, n), Tensor::zeros(dev, n));
    sdpa_forward_backward(
        dev,
        &mut GemmWorkspace::new(),
        d,
        [q.buf(), k.buf(), v.buf()],
        dout.buf(),
        [dq.buf_mut(), dk.buf_mut(), dv.buf_mut()],
    );
    Ok((dq, dk, dv))
}

/// Dimensions of multi-head self-attention on `[n, t, d_model]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MhaDims {
    /// Samples (the batch).
    pub n: usize,
    /// Sequence length.
    pub t: usize,
    /// Model (embedding) dimension; must be a multiple of `heads`.
    pub d_model: usize,
    /// Number of heads.
    pub heads: usize,
    /// Which keys each query sees.
    pub mask: AttnMask,
}

impl MhaDims {
    /// Checks that `heads > 0` divides `d_model`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] otherwise.
    pub fn validate(&self) -> Result<()> {
        if self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(Error::InvalidArgument {
                op: "multi-head attention",
                msg: format!(
                    "d_model {} must be a positive multiple of heads {}",
                    self.d_model, self.heads
                ),
            });
        }
        Ok(())
    }
    /// Features per head, `d_model / heads`.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads.max(1)
    }
    fn heads_layout(&self, chunks: usize) -> HeadDims {
        HeadDims {
            n: self.n,
            t: self.t,
            heads: self.heads,
            head_dim: self.head_dim(),
            chunks,
        }
    }
    fn sdpa(&self) -> SdpaDims {
        let dh = self.head_dim();
        SdpaDims {
            count: self.heads * self.n,
            tq: self.t,
            tk: self.t,
            d: dh,
            dv: dh,
            scale: 1.0 / (dh.max(1) as f64).sqrt(),
            mask: self.mask,
        }
    }
}

/// The parameters of multi-head attention, PyTorch layout.
#[derive(Debug)]
pub struct MhaWeights<'a, B: Backend, E: Float> {
    /// `in_proj_weight [3 d_model, d_model]` (`W_q; W_k; W_v`).
    pub in_proj_weight: &'a B::Buf<E>,
    /// `in_proj_bias [3 d_model]`.
    pub in_proj_bias: &'a B::Buf<E>,
    /// `out_proj.weight [d_model, d_model]`.
    pub out_proj_weight: &'a B::Buf<E>,
    /// `out_proj.bias [d_model]`.
    pub out_proj_bias: &'a B::Buf<E>,
}

impl<B: Backend, E: Float> Clone for MhaWeights<'_, B, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: Backend, E: Float> Copy for MhaWeights<'_, B, E> {}

/// Gradient accumulators of [`MhaWeights`] (same shapes).
#[derive(Debug)]
pub struct MhaGrads<'a, B: Backend, E: Float> {
    /// Gradient of `in_proj_weight`.
    pub in_proj_weight: &'a mut B::Buf<E>,
    /// Gradient of `in_proj_bias`.
    pub in_proj_bias: &'a mut B::Buf<E>,
    /// Gradient of `out_proj.weight`.
    pub out_proj_weight: &'a mut B::Buf<E>,
    /// Gradient of `out_proj.bias`.
    pub out_proj_bias: &'a mut B::Buf<E>,
}

/// What the multi-head backward needs from the forward (reused across steps).
#[derive(Clone, Debug)]
pub struct MhaCache<B: Backend, E: Float> {
    /// Input projection `[n, t, 3 d_model]`.
    pub qkv: B::Buf<E>,
    /// Queries, head-major `[heads, n, t, head_dim]`.
    pub q: B::Buf<E>,
    /// Keys, head-major.
    pub k: B::Buf<E>,
    /// Values, head-major.
    pub v: B::Buf<E>,
    /// Attention probabilities `[heads, n, t, t]`.
    pub p: B::Buf<E>,
    /// Attention output, head-major.
    pub o: B::Buf<E>,
    /// Heads concatenated, `[n, t, d_model]` (the output projection's input).
    pub concat: B::Buf<E>,
    /// The forward GEMMs' packing memory.
    pub gemm: GemmWorkspace,
}

impl<B: Backend, E: Float> MhaCache<B, E> {
    /// Empty buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            qkv: dev.zeros(0),
            q: dev.zeros(0),
            k: dev.zeros(0),
            v: dev.zeros(0),
            p: dev.zeros(0),
            o: dev.zeros(0),
            concat: dev.zeros(0),
            gemm: GemmWorkspace::new(),
        }
    }
}

/// Scratch buffers of the multi-head backward (reused across steps).
#[derive(Clone, Debug)]
pub struct MhaWorkspace<B: Backend, E: Float> {
    pub(crate) dconcat: B::Buf<E>,
    pub(crate) dout: B::Buf<E>,
    pub(crate) dp: B::Buf<E>,
    pub(crate) dq: B::Buf<E>,
    pub(crate) dk: B::Buf<E>,
    pub(crate) dv: B::Buf<E>,
    pub(crate) dqkv: B::Buf<E>,
    /// The backward GEMMs' packing memory.
    pub(crate) gemm: GemmWorkspace,
}

impl<B: Backend, E: Float> MhaWorkspace<B, E> {
    /// Empty buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            dconcat: dev.zeros(0),
            dout: dev.zeros(0),
            dp: dev.zeros(0),
            dq: dev.zeros(0),
            dk: dev.zeros(0),
            dv: dev.zeros(0),
            dqkv: dev.zeros(0),
            gemm: GemmWorkspace::new(),
        }
    }
}

/// Multi-head self-attention forward on flat buffers: `x [n, t, d_model]`
/// -> `y [n, t, d_model]` (resized), filling `cache`.
///
/// # Panics
/// If `d` fails [`MhaDims::validate`] or a buffer is too small (callers
/// validate user input first).
pub fn mha_forward<B: Backend, E: Float>(
    dev: &B,
    d: MhaDims,
    w: MhaWeights<'_, B, E>,
    x: &B::Buf<E>,
    y: &mut B::Buf<E>,
    c: &mut MhaCache<B, E>,
) {
    assert!(d.validate().is_ok(), "mha_forward: invalid dims {d:?}");
    let (rows, dm) = (d.n * d.t, d.d_model);
    dev.resize(&mut c.qkv, rows * 3 * dm);
    linear_forward(
        dev,
        &mut c.gemm,
        x,
        w.in_proj_weight,
        Some(w.in_proj_bias),
        &mut c.qkv,
        rows,
        dm,
        3 * dm,
    );
    let h3 = d.heads_layout(3);
    dev.split_heads(h3, 0, &c.qkv, &mut c.q);
    dev.split_heads(h3, 1, &c.qkv, &mut c.k);
    dev.split_heads(h3, 2, &c.qkv, &mut c.v);
    sdpa_forward(dev, &mut c.gemm, d.sdpa(), &c.q, &c.k, &c.v, &mut c.p, &mut c.o);
    dev.merge_heads(d.heads_layout(1), 0, &c.o, &mut c.concat);
    dev.resize(y, rows * dm);
    linear_forward(
        dev,
        &mut c.gemm,
        &c.concat,
        w.out_proj_weight,
        Some(w.out_proj_bias),
        y,
        rows,
        dm,
        dm,
    );
}

/// Multi-head self-attention backward on flat buffers: accumulates the
/// parameter gradients into `g` and, when `dx` is given, writes it (resized;
/// the total gradient through `q`, `k` and `v`). Without `dx` the input
/// projection's input-gradient product is skipped.
///
/// # Panics
/// As [`mha_forward`].
#[allow(clippy::too_many_arguments)]
pub fn mha_backward<B: Backend, E: Float>(
    dev: &B,
    d: MhaDims,
    w: MhaWeights<'_, B, E>,
    x: &B::Buf<E>,
    c: &MhaCache<B, E>,
    ws: &mut MhaWorkspace<B, E>,
    dy: &B::Buf<E>,
    mut dx: Option<&mut B::Buf<E>>,
    g: MhaGrads<'_, B, E>,
) {
    assert!(d.validate().is_ok(), "mha_backward: invalid dims {d:?}");
    let (rows, dm) = (d.n * d.t, d.d_model);
    dev.resize(&mut ws.dconcat, rows * dm);
    linear_backward(
        dev,
        &mut ws.gemm,
        &c.concat,
        w.out_proj_weight,
        dy,
        WeightGrads {
            dx: Some(&mut ws.dconcat),
            dw: g.out_proj_weight,
            db: Some(g.out_proj_bias),
        },
        rows,
        dm,
        dm,
    );
    dev.split_heads(d.heads_layout(1), 0, &ws.dconcat, &mut ws.dout);
    sdpa_backward(
        dev,
        &mut ws.gemm,
        d.sdpa(),
        &c.q,
        &c.k,
        &c.v,
        &c.p,
        &ws.dout,
        &mut ws.dp,
        &mut ws.dq,
        &mut ws.dk,
        &mut ws.dv,
    );
    let h3 = d.heads_layout(3);
    dev.merge_heads(h3, 0, &ws.dq, &mut ws.dqkv);
    dev.merge_heads(h3, 1, &ws.dk, &mut ws.dqkv);
    dev.merge_heads(h3, 2, &ws.dv, &mut ws.dqkv);
    if let Some(dx) = dx.as_deref_mut() {
        dev.resize(dx, rows * dm);
    }
    linear_backward(
        dev,
        &mut ws.gemm,
        x,
        w.in_proj_weight,
        &ws.dqkv,
        WeightGrads {
            dx,
            dw: g.in_proj_weight,
            db: Some(g.in_proj_bias),
        },
        rows,
        dm,
        3 * dm,
    );
}
