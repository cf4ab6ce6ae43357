//! Fully connected layer: `y = x W^T + b`, on `S1<IN>` samples or on the
//! last axis of `S2<T, IN>` and `S3<A, T, IN>` samples (sequences).
//!
//! **PyTorch equivalent**: `nn.Linear(IN, OUT)`; weight `[OUT, IN]`, bias
//! `[OUT]`, the same `state_dict` names and default initialisation.

use crate::module::{Layer, Module, OutputShape};
use dl_core::init::Init;
use dl_core::ops::bias::BiasDims;
use dl_core::ops::matmul::{BiasAxis, Gemm, GemmWorkspace};
use dl_core::{Backend, Cpu, Float, Param, Tensor, S1, S2, S3};

/// Forward on flat buffers: `y[n, out] = x[n, in] W[out, in]^T + b[out]`.
/// `y` must hold `n * out` elements; `ws` is the GEMM's packing memory
/// (keep it and reuse it).
#[allow(clippy::too_many_arguments)]
pub fn linear_forward<B: Backend, E: Float>(
    dev: &B,
    ws: &mut GemmWorkspace,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    b: Option<&B::Buf<E>>,
    y: &mut B::Buf<E>,
    n: usize,
    in_f: usize,
    out_f: usize,
) {
    let g = Gemm::new(n, out_f, in_f, false, true);
    match b {
        // On the CPU the bias is added in the GEMM's epilogue (the same
        // result as a separate `bias_add`, bit for bit, one pass fewer).
        Some(b) => dev.gemm_bias_ws(ws, g, x, w, b, BiasAxis::Columns, y),
        None => dev.gemm_ws(ws, g, x, w, y),
    }
}

/// The gradient outputs of a weight layer's backward on flat buffers
/// ([`linear_backward`], [`conv1d_backward`](super::conv1d::conv1d_backward),
/// [`conv2d_backward`](super::conv2d::conv2d_backward)).
pub struct WeightGrads<'a, B: Backend, E: Float> {
    /// The input gradient, written (resized) when given.
    pub dx: Option<&'a mut B::Buf<E>>,
    /// The weight gradient, accumulated (`+=`).
    pub dw: &'a mut B::Buf<E>,
    /// The bias gradient, accumulated when given (a layer with a bias).
    pub db: Option<&'a mut B::Buf<E>>,
}

/// Backward on flat buffers: accumulates `dW += dy^T x` and `db += sum(dy)`;
/// writes `dx = dy W` when `dx` is given (it must hold `n * in` elements).
/// `ws` is the GEMM's packing memory (keep it and reuse it).
#[allow(clippy::too_many_arguments)]
pub fn linear_backward<B: Backend, E: Float>(
    dev: &B,
    ws: &mut GemmWorkspace,
    x: &B::Buf<E>,
    w: &B::Buf<E>,
    dy: &B::Buf<E>,
    grads: WeightGrads<'_, B, E>,
    n: usize,
    in_f: usize,
    out_f: usize,
) {
    let WeightGrads { dx, dw, db } = grads;
    dev.gemm_ws(ws, Gemm::new(out_f, in_f, n, true, false).accumulate(), dy, x, dw);
    if let Some(db) = db {
        dev.bias_grad(
            BiasDims {
                outer: n,
                channels: out_f,
                inner: 1,
            },
            dy,
            db,
        );
    }
    if let Some(dx) = dx {
        dev.gemm_ws(ws, Gemm::new(n, in_f, out_f, false, false), dy, w, dx);
    }
}

/// A fully connected layer from `IN` to `OUT` features.
///
/// It takes `S1<IN>` samples, and sequences `S2<T, IN>` / `S3<A, T, IN>`,
/// where it maps the last axis of every position with the same weights
/// (as PyTorch's `nn.Linear` on `[N, T, IN]`).
///
/// Its cache is the GEMM's packing memory ([`GemmWorkspace`]), used by
/// the training forward and the backward. The inference forward
/// (`forward_into`, no cache) packs into the calling thread's workspace
/// ([`GemmWorkspace::with_thread_local`]).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let fc = Linear::<3, 2>::init(&Cpu, 0);
/// let x = Tensor::<S1<3>>::zeros(&Cpu, 4);
/// let y: Tensor<S1<2>> = fc.forward(&x);
/// assert_eq!(y.shape(), vec![4, 2]);
/// let seq = Tensor::<S2<5, 3>>::zeros(&Cpu, 4);
/// let y: Tensor<S2<5, 2>> = fc.forward(&seq);
/// assert_eq!(y.shape(), vec![4, 5, 2]);
/// ```
#[derive(Clone, Debug, Module)]
#[module(crate = crate, builtin)]
pub struct Linear<const IN: usize, const OUT: usize, B: Backend = Cpu, E: Float = f32> {
    /// Weight `[OUT, IN]`.
    #[param(init = Init::TorchDefault { fan_in: IN })]
    pub weight: Param<S2<OUT, IN>, B, E>,
    /// Bias `[OUT]`.
    #[param(init = Init::TorchDefault { fan_in: IN })]
    pub bias: Param<S1<OUT>, B, E>,
}

impl<const IN: usize, const OUT: usize, B: Backend, E: Float> Linear<IN, OUT, B, E> {
    /// Parameter gradients, and the input gradient when `dx` is given, for
    /// `rows` input rows of `IN` features (batch times the leading axes).
    fn backward_rows(
        &mut self,
        ws: &mut GemmWorkspace,
        dev: &B,
        rows: usize,
        x: &B::Buf<E>,
        dy: &B::Buf<E>,
        dx: Option<&mut B::Buf<E>>,
    ) {
        let w = self.weight.raw_mut();
        linear_backward(
            dev,
            ws,
            x,
            &w.value,
            dy,
            WeightGrads {
                dx,
                dw: &mut w.grad,
                db: Some(&mut self.bias.raw_mut().grad),
            },
            rows,
            IN,
            OUT,
        );
    }

    /// The forward on `rows` rows; without a workspace, the calling
    /// thread's (inference).
    fn forward_rows(&self, ws: Option<&mut GemmWorkspace>, dev: &B, rows: usize, x: &B::Buf<E>, y: &mut B::Buf<E>) {
        let (w, b) = (&self.weight.value, Some(&self.bias.value));
        match ws {
            Some(ws) => linear_forward(dev, ws, x, w, b, y, rows, IN, OUT),
            None => GemmWorkspace::with_thread_local(|ws| linear_forward(dev, ws, x, w, b, y, rows, IN, OUT)),
        }
    }
}

// `Layer` for inputs whose last axis holds the `IN` features: every row of
// the leading axes is mapped independently (PyTorch applies `Linear` to the
// last dimension the same way). Written out per rank (not by a macro) so
// that the compiler's messages quote plain impls.

// Rank-1 samples: `S1<IN>` -> `S1<OUT>`.
impl<const IN: usize, const OUT: usize, B: Backend, E: Float> OutputShape<S1<IN>> for Linear<IN, OUT, B, E> {
    type Out = S1<OUT>;
}

impl<const IN: usize, const OUT: usize, B: Backend, E: Float> Layer<S1<IN>, S1<OUT>, B, E> for Linear<IN, OUT, B, E> {
    type Cache = GemmWorkspace;

    fn new_cache(_dev: &B) -> GemmWorkspace {
        GemmWorkspace::new()
    }

    fn forward_into(&self, x: &Tensor<S1<IN>, B, E>, out: &mut Tensor<S1<OUT>, B, E>) {
        out.set_batch(x.batch());
        self.forward_rows(None, x.device(), x.batch(), x.buf(), out.buf_mut());
    }
    fn forward_train_into(
        &mut self,
        x: &Tensor<S1<IN>, B, E>,
        out: &mut Tensor<S1<OUT>, B, E>,
        ws: &mut GemmWorkspace,
    ) {
        out.set_batch(x.batch());
        self.forward_rows(Some(ws), x.device(), x.batch(), x.buf(), out.buf_mut());
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S1<IN>, B, E>,
        _out: &Tensor<S1<OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S1<OUT>, B, E>,
        dx: &mut Tensor<S1<IN>, B, E>,
    ) {
        dx.set_batch(x.batch());
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch(), x.buf(), dy.buf(), Some(dx.buf_mut()));
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S1<IN>, B, E>,
        _out: &Tensor<S1<OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S1<OUT>, B, E>,
        _dx: &mut Tensor<S1<IN>, B, E>,
    ) {
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch(), x.buf(), dy.buf(), None);
    }
}

// Sequences: every position of `S2<T, IN>` -> `S2<T, OUT>`.
impl<const T: usize, const IN: usize, const OUT: usize, B: Backend, E: Float> OutputShape<S2<T, IN>>
    for Linear<IN, OUT, B, E>
{
    type Out = S2<T, OUT>;
}

impl<const T: usize, const IN: usize, const OUT: usize, B: Backend, E: Float> Layer<S2<T, IN>, S2<T, OUT>, B, E>
    for Linear<IN, OUT, B, E>
{
    type Cache = GemmWorkspace;

    fn new_cache(_dev: &B) -> GemmWorkspace {
        GemmWorkspace::new()
    }

    fn forward_into(&self, x: &Tensor<S2<T, IN>, B, E>, out: &mut Tensor<S2<T, OUT>, B, E>) {
        out.set_batch(x.batch());
        self.forward_rows(None, x.device(), x.batch() * T, x.buf(), out.buf_mut());
    }
    fn forward_train_into(
        &mut self,
        x: &Tensor<S2<T, IN>, B, E>,
        out: &mut Tensor<S2<T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
    ) {
        out.set_batch(x.batch());
        self.forward_rows(Some(ws), x.device(), x.batch() * T, x.buf(), out.buf_mut());
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S2<T, IN>, B, E>,
        _out: &Tensor<S2<T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S2<T, OUT>, B, E>,
        dx: &mut Tensor<S2<T, IN>, B, E>,
    ) {
        dx.set_batch(x.batch());
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch() * T, x.buf(), dy.buf(), Some(dx.buf_mut()));
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S2<T, IN>, B, E>,
        _out: &Tensor<S2<T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S2<T, OUT>, B, E>,
        _dx: &mut Tensor<S2<T, IN>, B, E>,
    ) {
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch() * T, x.buf(), dy.buf(), None);
    }
}

// Every row of `S3<A, T, IN>` -> `S3<A, T, OUT>`.
impl<const A: usize, const T: usize, const IN: usize, const OUT: usize, B: Backend, E: Float> OutputShape<S3<A, T, IN>>
    for Linear<IN, OUT, B, E>
{
    type Out = S3<A, T, OUT>;
}

impl<const A: usize, const T: usize, const IN: usize, const OUT: usize, B: Backend, E: Float>
    Layer<S3<A, T, IN>, S3<A, T, OUT>, B, E> for Linear<IN, OUT, B, E>
{
    type Cache = GemmWorkspace;

    fn new_cache(_dev: &B) -> GemmWorkspace {
        GemmWorkspace::new()
    }

    fn forward_into(&self, x: &Tensor<S3<A, T, IN>, B, E>, out: &mut Tensor<S3<A, T, OUT>, B, E>) {
        out.set_batch(x.batch());
        self.forward_rows(None, x.device(), x.batch() * A * T, x.buf(), out.buf_mut());
    }
    fn forward_train_into(
        &mut self,
        x: &Tensor<S3<A, T, IN>, B, E>,
        out: &mut Tensor<S3<A, T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
    ) {
        out.set_batch(x.batch());
        self.forward_rows(Some(ws), x.device(), x.batch() * A * T, x.buf(), out.buf_mut());
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S3<A, T, IN>, B, E>,
        _out: &Tensor<S3<A, T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S3<A, T, OUT>, B, E>,
        dx: &mut Tensor<S3<A, T, IN>, B, E>,
    ) {
        dx.set_batch(x.batch());
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch() * A * T, x.buf(), dy.buf(), Some(dx.buf_mut()));
    }
    fn backward_params_into(
        &mut self,
        x: &Tensor<S3<A, T, IN>, B, E>,
        _out: &Tensor<S3<A, T, OUT>, B, E>,
        ws: &mut GemmWorkspace,
        dy: &Tensor<S3<A, T, OUT>, B, E>,
        _dx: &mut Tensor<S3<A, T, IN>, B, E>,
    ) {
        let dev = x.device().clone();
        self.backward_rows(ws, &dev, x.batch() * A * T, x.buf(), dy.buf(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dl_core::gradcheck::{check_gradient, GradCheck};
    use dl_core::Rng;

    type L = Linear<4, 3, Cpu, f64>;

    fn loss(l: &L, x: &Tensor<S1<4>, Cpu, f64>, g: &[f64]) -> f64 {
        l.forward(x).to_vec().iter().zip(g).map(|(a, b)| a * b).sum()
    }

    #[test]
    fn gradient_check_input_weight_bias() {
        let mut rng = Rng::new(1);
        let mut l = L::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<4>, Cpu, f64>::randn(&Cpu, 5, &mut rng);
        let g: Vec<f64> = (0..15).map(|i| (i as f64).cos()).collect();
        let gt = Tensor::from_slice(&Cpu, 5, &g).unwrap();
        let mut out = Tensor::empty(&Cpu);
        let mut dx = Tensor::empty(&Cpu);
        let mut ws = GemmWorkspace::new();
        l.forward_train_into(&x, &mut out, &mut ws);
        l.backward_into(&x, &out, &mut ws, &gt, &mut dx);
        let fx = |v: &[f64]| loss(&l, &Tensor::from_slice(&Cpu, 5, v).unwrap(), &g);
        check_gradient(fx, &x.to_vec(), &dx.to_vec(), GradCheck::default()).unwrap();
        let mut lw = l.clone();
        let fw = |v: &[f64]| {
            lw.weight.set_value(v).unwrap();
            loss(&lw, &x, &g)
        };
        check_gradient(fw, &l.weight.value_vec(), &l.weight.grad_vec(), GradCheck::default()).unwrap();
        let mut lb = l.clone();
        let fb = |v: &[f64]| {
            lb.bias.set_value(v).unwrap();
            loss(&lb, &x, &g)
        };
        check_gradient(fb, &l.bias.value_vec(), &l.bias.grad_vec(), GradCheck::default()).unwrap();
    }

    #[test]
    fn sequence_gradient_check_and_rowwise_forward() {
        let mut rng = Rng::new(3);
        let mut l = L::init_with(&Cpu, &mut rng);
        let x = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        let g: Vec<f64> = (0..18).map(|i| (i as f64 * 0.7).sin()).collect();
        let gt = Tensor::<S2<3, 3>, Cpu, f64>::from_slice(&Cpu, 2, &g).unwrap();
        let mut out = Tensor::empty(&Cpu);
        let mut dx = Tensor::empty(&Cpu);
        let mut ws = GemmWorkspace::new();
        l.forward_train_into(&x, &mut out, &mut ws);
        // Every position equals the rank-1 layer on that row.
        let rows = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, 6, &x.to_vec()).unwrap();
        assert_eq!(out.to_vec(), Layer::<S1<4>, S1<3>, _, _>::forward(&l, &rows).to_vec());
        l.backward_into(&x, &out, &mut ws, &gt, &mut dx);
        let seq_loss = |l: &L, x: &Tensor<S2<3, 4>, Cpu, f64>| -> f64 {
            let y: Tensor<S2<3, 3>, Cpu, f64> = l.forward(x);
            y.to_vec().iter().zip(&g).map(|(a, b)| a * b).sum()
        };
        let fx = |v: &[f64]| seq_loss(&l, &Tensor::from_slice(&Cpu, 2, v).unwrap());
        check_gradient(fx, &x.to_vec(), &dx.to_vec(), GradCheck::default()).unwrap();
        let mut lw = l.clone();
        let fw = |v: &[f64]| {
            lw.weight.set_value(v).unwrap();
            seq_loss(&lw, &x)
        };
        check_gradient(fw, &l.weight.value_vec(), &l.weight.grad_vec(), GradCheck::default()).unwrap();
        let x3 = Tensor::<S3<2, 3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        let y3: Tensor<S3<2, 3, 3>, Cpu, f64> = l.forward(&x3);
        let rows3 = Tensor::<S1<4>, Cpu, f64>::from_slice(&Cpu, 12, &x3.to_vec()).unwrap();
        assert_eq!(y3.to_vec(), Layer::<S1<4>, S1<3>, _, _>::forward(&l, &rows3).to_vec());
    }

    /// The training forward (the cache's workspace) and the inference
    /// forward (the thread's) give the same bits; a second step reuses the
    /// cache's packing memory without growing it.
    #[test]
    fn cache_workspace_matches_inference_and_is_reused() {
        let mut rng = Rng::new(4);
        let mut l = Linear::<96, 80, Cpu, f32>::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<96>, Cpu, f32>::randn(&Cpu, 70, &mut rng);
        let dy = Tensor::<S1<80>, Cpu, f32>::randn(&Cpu, 70, &mut rng);
        let mut ws = <Linear<96, 80, Cpu, f32> as Layer<S1<96>, S1<80>, Cpu, f32>>::new_cache(&Cpu);
        assert_eq!(ws.bytes(), 0);
        let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
        l.forward_train_into(&x, &mut out, &mut ws);
        l.backward_into(&x, &out, &mut ws, &dy, &mut dx);
        let held = ws.bytes();
        assert!(held > 0);
        assert_eq!(out.to_vec(), l.forward(&x).to_vec());
        l.forward_train_into(&x, &mut out, &mut ws);
        l.backward_into(&x, &out, &mut ws, &dy, &mut dx);
        assert_eq!(ws.bytes(), held);
    }

    #[test]
    fn gradients_accumulate() {
        let mut rng = Rng::new(2);
        let mut l = L::init_with(&Cpu, &mut rng);
        let x = Tensor::<S1<4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        let dy = Tensor::<S1<3>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
        let mut ws = GemmWorkspace::new();
        l.forward_train_into(&x, &mut out, &mut ws);
        l.backward_into(&x, &out, &mut ws, &dy, &mut dx);
        let once = l.weight.grad_vec();
        l.backward_into(&x, &out, &mut ws, &dy, &mut dx);
        let twice = l.weight.grad_vec();
        for (a, b) in once.iter().zip(&twice) {
            assert!((2.0 * a - b).abs() < 1e-12);
        }
        l.zero_grad();
        assert!(l.weight.grad_vec().iter().all(|&v| v == 0.0));
    }

    #[test]
    fn state_dict_names() {
        let l = Linear::<2, 2>::init(&Cpu, 0);
        let mut names = vec![];
        l.visit("fc1.", &mut |n, p| names.push((n.to_string(), p.dims.clone())));
        assert_eq!(
            names,
            vec![("fc1.weight".into(), vec![2, 2]), ("fc1.bias".into(), vec![2])]
        );
    }
}
