//! Recurrent layers: `LSTM`, `GRU` (PyTorch's `nn.LSTM`, `nn.GRU` with
//! `batch_first = True`), and `LastStep`, which picks the last position of
//! a sequence for a classification head.
//!
//! ## Computation
//!
//! For each layer and direction, the inputs of all time steps are projected
//! with one GEMM (`g = x W_ih^T + b_ih`, `[N*T, G*H]`); then, step by step,
//! the previous hidden state is multiplied by `W_hh^T` (a GEMM over the
//! batch) and the element-wise cell (`dl_core::ops::rnn`) applies the gates
//! (LSTM `i, f, g, o`; GRU `r, z, n` with
//! `n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`) and writes the state
//! and the output. A reverse direction reads the sequence from the end; the
//! output of each position is `[forward, reverse]`. The initial state is
//! zero. Layer `l > 0` reads the output of layer `l - 1`.
//!
//! Backpropagation through time runs the steps in reverse order, carrying
//! `dh` (and `dc`) through `W_hh`; the weight gradients then take one GEMM
//! each over all steps (`dW_ih += dG^T x`, `dW_hh += dR^T h_prev`).
//!
//! ## Parameters
//!
//! `state_dict` names and shapes as PyTorch: for each layer `k` and
//! direction (`""` or `"_reverse"`): `weight_ih_l{k}` `[G*H, in]`,
//! `weight_hh_l{k}` `[G*H, H]`, `bias_ih_l{k}` `[G*H]`, `bias_hh_l{k}`
//! `[G*H]`, in that order, so PyTorch checkpoints load by name. All are
//! initialised `U(-1/sqrt(H), 1/sqrt(H))`, as PyTorch does.

use crate::layers::linear::{linear_backward, linear_forward, WeightGrads};
use crate::module::{Layer, Module, OutputShape};
use dl_core::init::Init;
use dl_core::ops::bias::BiasDims;
use dl_core::ops::matmul::{Batch, Gemm, GemmWorkspace};
use dl_core::ops::rnn::{Cell, RnnStep, RnnStepBwd, RnnStepFwd};
use dl_core::shape::defaults;
use dl_core::{Backend, Cpu, Error, Float, ParamKind, RawParam, Result, Rng, Tensor, S1, S2};
use std::marker::PhantomData;

/// Runtime dimensions of a recurrent layer stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RnnDims {
    /// LSTM or GRU.
    pub cell: Cell,
    /// Batch size `N`.
    pub n: usize,
    /// Sequence length `T`.
    pub t: usize,
    /// Input features of the first layer.
    pub input: usize,
    /// Hidden size `H`.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Whether each layer also runs over the reversed sequence.
    pub bidirectional: bool,
}

impl RnnDims {
    /// 1 or 2.
    pub const fn dirs(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    /// Gate rows, `G * H`.
    pub const fn gh(&self) -> usize {
        self.cell.gates() * self.hidden
    }
    /// Input features of layer `l`.
    pub const fn layer_input(&self, l: usize) -> usize {
        if l == 0 {
            self.input
        } else {
            self.dirs() * self.hidden
        }
    }
    /// Output features per position, `H * dirs`.
    pub const fn out_features(&self) -> usize {
        self.dirs() * self.hidden
    }
    /// The `state_dict` names and shapes of the parameters, in order.
    pub fn param_specs(&self) -> Vec<(String, Vec<usize>)> {
        let mut v = Vec::with_capacity(4 * self.layers * self.dirs());
        for l in 0..self.layers {
            for d in 0..self.dirs() {
                let sfx = if d == 0 { "" } else { "_reverse" };
                v.push((format!("weight_ih_l{l}{sfx}"), vec![self.gh(), self.layer_input(l)]));
                v.push((format!("weight_hh_l{l}{sfx}"), vec![self.gh(), self.hidden]));
                v.push((format!("bias_ih_l{l}{sfx}"), vec![self.gh()]));
                v.push((format!("bias_hh_l{l}{sfx}"), vec![self.gh()]));
            }
        }
        v
    }
    fn step(&self, dir: usize, k: usize) -> RnnStep {
        RnnStep {
            cell: self.cell,
            n: self.n,
            t_len: self.t,
            hidden: self.hidden,
            step: k,
            time: if dir == 0 { k } else { self.t - 1 - k },
            y_width: self.out_features(),
            y_offset: dir * self.hidden,
        }
    }
    fn validate(&self) -> Result<()> {
        if self.t == 0 || self.input == 0 || self.hidden == 0 || self.layers == 0 {
            return Err(Error::InvalidArgument {
                op: "rnn",
                msg: format!(
                    "sequence length {}, input {}, hidden {} and layers {} must be positive",
                    self.t, self.input, self.hidden, self.layers
                ),
            });
        }
        Ok(())
    }
}

/// What the forward pass keeps for backpropagation through time: per layer
/// and direction the input projection, the states and the gate
/// activations; per layer below the top its output.
#[derive(Debug)]
pub struct RnnCache<B: Backend, E: Float> {
    /// Per (layer, direction): `g` `[N, T, G H]`.
    g: Vec<B::Buf<E>>,
    /// Per (layer, direction): hidden states by step slot `[(T + 1), N, H]`.
    h: Vec<B::Buf<E>>,
    /// Per (layer, direction): LSTM cell states (empty for GRU).
    c: Vec<B::Buf<E>>,
    /// Per (layer, direction): activations `[T, N, 4 H]`.
    acts: Vec<B::Buf<E>>,
    /// Outputs of the layers below the top `[N, T, dirs H]`.
    ys: Vec<B::Buf<E>>,
    /// Scratch for `h W_hh^T` `[N, G H]`.
    r: B::Buf<E>,
    dims: Option<RnnDims>,
    /// Scratch space of the backward pass.
    work: RnnWork<B, E>,
    /// The GEMMs' packing memory.
    gemm: GemmWorkspace,
}

impl<B: Backend, E: Float> RnnCache<B, E> {
    /// An empty cache on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            g: vec![],
            h: vec![],
            c: vec![],
            acts: vec![],
            ys: vec![],
            r: dev.zeros(0),
            dims: None,
            work: RnnWork::new(dev),
            gemm: GemmWorkspace::new(),
        }
    }

    fn ensure(&mut self, dev: &B, d: RnnDims) {
        let count = d.layers * d.dirs();
        for v in [&mut self.g, &mut self.h, &mut self.c, &mut self.acts] {
            v.resize_with(count, || dev.zeros(0));
        }
        self.ys.resize_with(d.layers - 1, || dev.zeros(0));
        self.dims = Some(d);
    }

    /// The final hidden states `h_n` `[layers * dirs, N, H]` (PyTorch's
    /// order: layer-major, forward before reverse) of the last forward pass
    /// that filled this cache, downloaded; `None` before any.
    pub fn h_n(&self, dev: &B) -> Option<Vec<E>> {
        self.final_state(dev, &self.h)
    }

    /// The final LSTM cell states `c_n` `[layers * dirs, N, H]`; `None`
    /// before a forward pass or for a GRU.
    pub fn c_n(&self, dev: &B) -> Option<Vec<E>> {
        match self.dims?.cell {
            Cell::Lstm => self.final_state(dev, &self.c),
            Cell::Gru => None,
        }
    }

    fn final_state(&self, dev: &B, states: &[B::Buf<E>]) -> Option<Vec<E>> {
        let d = self.dims?;
        let nh = d.n * d.hidden;
        let mut out = Vec::with_capacity(states.len() * nh);
        for s in states {
            out.extend_from_slice(&dev.to_vec(s)[d.t * nh..(d.t + 1) * nh]);
        }
        Some(out)
    }
}

/// Scratch space of the backward pass (part of [`RnnCache`]).
#[derive(Debug)]
pub struct RnnWork<B: Backend, E: Float> {
    dg: B::Buf<E>,
    dr: B::Buf<E>,
    dh: B::Buf<E>,
    dc: B::Buf<E>,
    dy_next: B::Buf<E>,
    dx_tmp: B::Buf<E>,
}

impl<B: Backend, E: Float> RnnWork<B, E> {
    /// Empty scratch buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            dg: dev.zeros(0),
            dr: dev.zeros(0),
            dh: dev.zeros(0),
            dc: dev.zeros(0),
            dy_next: dev.zeros(0),
            dx_tmp: dev.zeros(0),
        }
    }
}

fn check_params<B: Backend, E: Float>(d: &RnnDims, params: &[RawParam<B, E>]) -> Result<()> {
    let specs = d.param_specs();
    let bad = |msg: String| Err(Error::InvalidArgument { op: "rnn", msg });
    if params.len() != specs.len() {
        return bad(format!("{} parameters given, {} expected", params.len(), specs.len()));
    }
    for (p, (name, dims)) in params.iter().zip(&specs) {
        if &p.dims != dims {
            return bad(format!("{name} has shape {:?}, expected {dims:?}", p.dims));
        }
    }
    Ok(())
}

/// Forward on flat buffers: `x` `[N, T, input]` -> `y` `[N, T, dirs H]`
/// (resized), filling `cache` for [`rnn_backward`]. `params` are the
/// parameters in `state_dict` order ([`RnnDims::param_specs`]).
///
/// # Errors
/// [`Error::InvalidArgument`] when a dimension is zero, a parameter has the
/// wrong shape or `x` the wrong length.
pub fn rnn_forward<B: Backend, E: Float>(
    dev: &B,
    d: RnnDims,
    x: &B::Buf<E>,
    params: &[RawParam<B, E>],
    y: &mut B::Buf<E>,
    cache: &mut RnnCache<B, E>,
) -> Result<()> {
    d.validate()?;
    check_params(&d, params)?;
    if dev.len(x) != d.n * d.t * d.input {
        return Err(Error::InvalidArgument {
            op: "rnn",
            msg: format!("input needs {} elements, got {}", d.n * d.t * d.input, dev.len(x)),
        });
    }
    cache.ensure(dev, d);
    let (n, t, hd, gh) = (d.n, d.t, d.hidden, d.gh());
    let RnnCache {
        g,
        h,
        c,
        acts,
        ys,
        r,
        gemm,
        ..
    } = cache;
    dev.resize(r, n * gh);
    for l in 0..d.layers {
        let (below, above) = ys.split_at_mut(l);
        let input: &B::Buf<E> = if l == 0 { x } else { &below[l - 1] };
        let out: &mut B::Buf<E> = if l + 1 == d.layers { &mut *y } else { &mut above[0] };
        dev.resize(out, n * t * d.out_features());
        for dir in 0..d.dirs() {
            let i = l * d.dirs() + dir;
            let p = &params[4 * i..4 * i + 4];
            let s0 = d.step(dir, 0);
            dev.resize(&mut g[i], s0.g_len());
            linear_forward(
                dev,
                gemm,
                input,
                &p[0].value,
                Some(&p[2].value),
                &mut g[i],
                n * t,
                d.layer_input(l),
                gh,
            );
            dev.resize(&mut h[i], s0.state_len());
            dev.fill(&mut h[i], E::ZERO);
            if d.cell == Cell::Lstm {
                dev.resize(&mut c[i], s0.state_len());
                dev.fill(&mut c[i], E::ZERO);
            }
            dev.resize(&mut acts[i], s0.acts_len());
            for k in 0..t {
                let batch = Batch {
                    a_offset: k * n * hd,
                    ..Batch::one()
                };
                dev.gemm_batched_ws(gemm, Gemm::new(n, gh, hd, false, true), batch, &h[i], &p[1].value, r);
                let b = RnnStepFwd {
                    g: &g[i],
                    r,
                    b_hh: &p[3].value,
                    h: &mut h[i],
                    c: &mut c[i],
                    acts: &mut acts[i],
                    y: out,
                };
                dev.rnn_step_forward(d.step(dir, k), b);
            }
        }
    }
    Ok(())
}

/// Backward on flat buffers (backpropagation through time): accumulates
/// every parameter gradient (`params[..].grad`) and writes `dx` when given
/// (resized to `[N, T, input]`). `x`, `dims` and `cache` are those of the
/// matching [`rnn_forward`]; `dy` is the gradient of its output.
///
/// # Errors
/// [`Error::InvalidArgument`] when `cache` was not filled with these
/// dimensions, or a parameter has the wrong shape.
#[allow(clippy::too_many_arguments)]
pub fn rnn_backward<B: Backend, E: Float>(
    dev: &B,
    d: RnnDims,
    x: &B::Buf<E>,
    params: &mut [RawParam<B, E>],
    dy: &B::Buf<E>,
    mut dx: Option<&mut B::Buf<E>>,
    cache: &mut RnnCache<B, E>,
) -> Result<()> {
    check_params(&d, params)?;
    if cache.dims != Some(d) {
        return Err(Error::InvalidArgument {
            op: "rnn",
            msg: "the cache was not filled by a forward pass with these dimensions".into(),
        });
    }
    let (n, t, hd, gh) = (d.n, d.t, d.hidden, d.gh());
    let RnnWork {
        dg,
        dr,
        dh,
        dc,
        dy_next,
        dx_tmp,
    } = &mut cache.work;
    let gemm = &mut cache.gemm;
    for l in (0..d.layers).rev() {
        let input: &B::Buf<E> = if l == 0 { x } else { &cache.ys[l - 1] };
        let in_f = d.layer_input(l);
        let dy_l: &B::Buf<E> = if l + 1 == d.layers { dy } else { dy_next };
        // Where this layer's input gradient goes: `dx` for the first layer,
        // scratch (then the next lower layer's `dy`) above it.
        let mut dx_l: Option<&mut B::Buf<E>> = if l == 0 { dx.as_deref_mut() } else { Some(&mut *dx_tmp) };
        if let Some(dxl) = dx_l.as_deref_mut() {
            dev.resize(dxl, n * t * in_f);
        }
        for dir in 0..d.dirs() {
            let i = l * d.dirs() + dir;
            let s0 = d.step(dir, 0);
            dev.resize(dg, s0.g_len());
            dev.resize(dr, s0.dr_len());
            dev.resize(dh, n * hd);
            dev.fill(dh, E::ZERO);
            dev.resize(dc, n * hd);
            dev.fill(dc, E::ZERO);
            let p = &mut params[4 * i..4 * i + 4];
            for k in (0..t).rev() {
                let b = RnnStepBwd {
                    acts: &cache.acts[i],
                    h: &cache.h[i],
                    c: &cache.c[i],
                    dy: dy_l,
                    dh,
                    dc,
                    dg,
                    dr,
                };
                dev.rnn_step_backward(d.step(dir, k), b);
                if k > 0 {
                    let batch = Batch {
                        a_offset: k * n * gh,
                        ..Batch::one()
                    };
                    dev.gemm_batched_ws(
                        gemm,
                        Gemm::new(n, hd, gh, false, false).accumulate(),
                        batch,
                        dr,
                        &p[1].value,
                        dh,
                    );
                }
            }
            // dW_hh += dR^T h_prev over all steps; db_hh += column sums of dR.
            let whh = &mut p[1];
            dev.gemm_ws(
                gemm,
                Gemm::new(gh, hd, t * n, true, false).accumulate(),
                dr,
                &cache.h[i],
                &mut whh.grad,
            );
            dev.bias_grad(
                BiasDims {
                    outer: t * n,
                    channels: gh,
                    inner: 1,
                },
                dr,
                &mut p[3].grad,
            );
            // dW_ih, db_ih and the input gradient from the input projection.
            let (wih, rest) = p.split_at_mut(1);
            let wih = &mut wih[0];
            // The first direction writes the input gradient, the second adds to it.
            let (dx_write, dx_add) = match dir {
                0 => (dx_l.as_deref_mut(), None),
                _ => (None, dx_l.as_deref_mut()),
            };
            let grads = WeightGrads {
                dx: dx_write,
                dw: &mut wih.grad,
                db: Some(&mut rest[1].grad),
            };
            linear_backward(dev, gemm, input, &wih.value, dg, grads, n * t, in_f, gh);
            if let Some(dxl) = dx_add {
                let g = Gemm::new(n * t, in_f, gh, false, false).accumulate();
                dev.gemm_ws(gemm, g, dg, &wih.value, dxl);
            }
        }
        if l > 0 {
            std::mem::swap(dy_next, dx_tmp);
        }
    }
    Ok(())
}

fn init_params<B: Backend, E: Float>(dev: &B, d: &RnnDims, rng: &mut Rng) -> Vec<RawParam<B, E>> {
    let b = 1.0 / (d.hidden as f64).sqrt();
    d.param_specs()
        .into_iter()
        .map(|(_, dims)| {
            let mut p = RawParam::zeros(dev, dims, ParamKind::Trainable);
            let v: Vec<E> = Init::Uniform { low: -b, high: b }
                .sample(rng, p.numel())
                .into_iter()
                .map(E::from_f64)
                .collect();
            dev.write(&mut p.value, &v);
            p
        })
        .collect()
}

macro_rules! recurrent_layer {
    ($name:ident, $cell:expr, $torch:literal, $gates:literal, $doc_gates:literal) => {
        #[doc = concat!("A stack of `LAYERS` ", $torch, " layers with `HIDDEN` units (",
                            $doc_gates, "), optionally bidirectional: `S2<T, INPUT>` -> `S2<T, HIDDEN * directions>` ",
                            "(every position's last-layer hidden state, forward then reverse).\n\n",
                            "**PyTorch equivalent**: `nn.", $torch, "(INPUT, HIDDEN, num_layers=LAYERS, ",
                            "batch_first=True, bidirectional=BIDIRECTIONAL)`, with the same `state_dict` names ",
                            "(`weight_ih_l0`, `weight_hh_l0`, `bias_ih_l0`, `bias_hh_l0`, `..._reverse`, ",
                            "`weight_ih_l1`, ...), gate order and initialisation; zero initial state. ",
                            "The final states are read from the training cache (`RnnCache::h_n`).\n\n",
                            "```\nuse dl_core::prelude::*;\nuse dl_nn::prelude::*;\n",
                            "let rnn = ", stringify!($name), "::<3, 5, 1, true>::init(&Cpu, 0);\n",
                            "let x = Tensor::<S2<7, 3>>::zeros(&Cpu, 2);\n",
                            "let y: Tensor<S2<7, 10>> = rnn.forward(&x);\n",
                            "assert_eq!(y.shape(), vec![2, 7, 10]);\n```")]
        #[derive(Clone, Debug, Module)]
        #[module(crate = crate, builtin, init = Self::init_layer, num_params = {
            let dirs = if BIDIRECTIONAL { 2 } else { 1 };
            let gh = $gates * HIDDEN;
            let upper = if LAYERS > 1 { LAYERS - 1 } else { 0 };
            dirs * (gh * (INPUT + HIDDEN + 2) + upper * gh * (dirs * HIDDEN + HIDDEN + 2))
        })]
        pub struct $name<
            const INPUT: usize,
            const HIDDEN: usize,
            const LAYERS: usize = { defaults::RNN_LAYERS },
            const BIDIRECTIONAL: bool = { defaults::RNN_BIDIRECTIONAL },
            B: Backend = Cpu,
            E: Float = f32,
        > {
            /// The parameters in `state_dict` order ([`RnnDims::param_specs`]).
            #[param_list(names = Self::dims(0, 1).param_specs().into_iter().map(|(name, _)| name))]
            pub params: Vec<RawParam<B, E>>,
        }

        impl<
                const INPUT: usize,
                const HIDDEN: usize,
                const LAYERS: usize,
                const BIDIRECTIONAL: bool,
                B: Backend,
                E: Float,
            > $name<INPUT, HIDDEN, LAYERS, BIDIRECTIONAL, B, E>
        {
            /// PyTorch's initialisation, `U(-1/sqrt(HIDDEN), 1/sqrt(HIDDEN))`.
            fn init_layer(dev: &B, rng: &mut Rng) -> Self {
                Self {
                    params: init_params(dev, &Self::dims(0, 1), rng),
                }
            }

            /// The runtime dimensions for a batch of `n` sequences of `t` steps.
            pub const fn dims(n: usize, t: usize) -> RnnDims {
                const {
                    assert!(
                        INPUT > 0 && HIDDEN > 0 && LAYERS > 0,
                        concat!(stringify!($name), ": INPUT, HIDDEN and LAYERS must be positive")
                    )
                };
                RnnDims {
                    cell: $cell,
                    n,
                    t,
                    input: INPUT,
                    hidden: HIDDEN,
                    layers: LAYERS,
                    bidirectional: BIDIRECTIONAL,
                }
            }

            /// Parameter gradients, and the input gradient into `dx` when given.
            fn run_backward<const T: usize, const OUT: usize>(
                &mut self,
                x: &Tensor<S2<T, INPUT>, B, E>,
                dy: &Tensor<S2<T, OUT>, B, E>,
                dx: Option<&mut B::Buf<E>>,
                cache: &mut RnnCache<B, E>,
            ) {
                let d = Self::dims(x.batch(), T);
                rnn_backward(x.device(), d, x.buf(), &mut self.params, dy.buf(), dx, cache).expect(concat!(
                    stringify!($name),
                    ": backward without a matching forward_train"
                ));
            }

            fn run_forward<const T: usize, const OUT: usize>(
                &self,
                x: &Tensor<S2<T, INPUT>, B, E>,
                y: &mut Tensor<S2<T, OUT>, B, E>,
                cache: &mut RnnCache<B, E>,
            ) {
                const {
                    assert!(
                        T > 0,
                        concat!(stringify!($name), ": the sequence length T must be positive")
                    )
                };
                const {
                    assert!(
                        OUT == HIDDEN * if BIDIRECTIONAL { 2 } else { 1 },
                        concat!(
                            stringify!($name),
                            ": the output features must be HIDDEN (times 2 when BIDIRECTIONAL)"
                        )
                    )
                };
                let d = Self::dims(x.batch(), T);
                rnn_forward(x.device(), d, x.buf(), &self.params, y.buf_mut(), cache).expect(concat!(
                    stringify!($name),
                    ": parameters of the wrong shape (set by hand?)"
                ));
            }
        }

        impl<
                const INPUT: usize,
                const HIDDEN: usize,
                const LAYERS: usize,
                const BIDIRECTIONAL: bool,
                const T: usize,
                const OUT: usize,
                B: Backend,
                E: Float,
            > Layer<S2<T, INPUT>, S2<T, OUT>, B, E> for $name<INPUT, HIDDEN, LAYERS, BIDIRECTIONAL, B, E>
        {
            type Cache = RnnCache<B, E>;

            fn new_cache(dev: &B) -> RnnCache<B, E> {
                RnnCache::new(dev)
            }
            fn forward_into(&self, x: &Tensor<S2<T, INPUT>, B, E>, out: &mut Tensor<S2<T, OUT>, B, E>) {
                out.set_batch(x.batch());
                // No cache in inference: the states are allocated here, the
                // GEMMs pack into the thread's workspace.
                let mut cache = RnnCache::new(x.device());
                GemmWorkspace::with_thread_local(|ws| {
                    std::mem::swap(&mut cache.gemm, ws);
                    self.run_forward(x, out, &mut cache);
                    std::mem::swap(&mut cache.gemm, ws);
                });
            }
            fn forward_train_into(
                &mut self,
                x: &Tensor<S2<T, INPUT>, B, E>,
                out: &mut Tensor<S2<T, OUT>, B, E>,
                cache: &mut RnnCache<B, E>,
            ) {
                out.set_batch(x.batch());
                self.run_forward(x, out, cache);
            }
            fn backward_into(
                &mut self,
                x: &Tensor<S2<T, INPUT>, B, E>,
                _out: &Tensor<S2<T, OUT>, B, E>,
                cache: &mut RnnCache<B, E>,
                dy: &Tensor<S2<T, OUT>, B, E>,
                dx: &mut Tensor<S2<T, INPUT>, B, E>,
            ) {
                dx.set_batch(x.batch());
                self.run_backward(x, dy, Some(dx.buf_mut()), cache);
            }
            fn backward_params_into(
                &mut self,
                x: &Tensor<S2<T, INPUT>, B, E>,
                _out: &Tensor<S2<T, OUT>, B, E>,
                cache: &mut RnnCache<B, E>,
                dy: &Tensor<S2<T, OUT>, B, E>,
                _dx: &mut Tensor<S2<T, INPUT>, B, E>,
            ) {
                self.run_backward(x, dy, None, cache);
            }
        }
    };
}

recurrent_layer!(LSTM, Cell::Lstm, "LSTM", 4, "gates `i, f, g, o`");
recurrent_layer!(GRU, Cell::Gru, "GRU", 3, "gates `r, z, n`");

/// The last position of a sequence: `S2<T, D>` -> `S1<D>` (PyTorch:
/// `output[:, -1, :]`), for a classification head after a recurrent layer.
///
/// It runs as one batched product with a one-hot row (no device kernel of
/// its own); its gradient is zero at every other position.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let x = Tensor::<S2<3, 2>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let y: Tensor<S1<2>> = LastStep::<Cpu, f32>::default().forward(&x);
/// assert_eq!(y.to_vec(), vec![5.0, 6.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = crate, builtin)]
pub struct LastStep<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

impl<const T: usize, const D: usize, B: Backend, E: Float> OutputShape<S2<T, D>> for LastStep<B, E> {
    type Out = S1<D>;
}

fn one_hot_last<B: Backend, E: Float, const T: usize>(dev: &B) -> B::Buf<E> {
    const { assert!(T > 0, "LastStep: the sequence length T must be positive") };
    let mut v = vec![E::ZERO; T];
    v[T - 1] = E::ONE;
    dev.from_slice(&v)
}

/// The cache of [`LastStep`]: the one-hot row selecting position `T - 1`
/// and the GEMM's packing memory.
#[derive(Debug)]
pub struct LastStepCache<B: Backend, E: Float> {
    one_hot: B::Buf<E>,
    gemm: GemmWorkspace,
}

impl<const T: usize, const D: usize, B: Backend, E: Float> Layer<S2<T, D>, S1<D>, B, E> for LastStep<B, E> {
    type Cache = LastStepCache<B, E>;

    fn new_cache(dev: &B) -> LastStepCache<B, E> {
        LastStepCache {
            one_hot: one_hot_last::<B, E, T>(dev),
            gemm: GemmWorkspace::new(),
        }
    }
    fn forward_into(&self, x: &Tensor<S2<T, D>, B, E>, out: &mut Tensor<S1<D>, B, E>) {
        out.set_batch(x.batch());
        let e = one_hot_last::<B, E, T>(x.device());
        GemmWorkspace::with_thread_local(|ws| select(ws, x, &e, out));
    }
    fn forward_train_into(
        &mut self,
        x: &Tensor<S2<T, D>, B, E>,
        out: &mut Tensor<S1<D>, B, E>,
        cache: &mut LastStepCache<B, E>,
    ) {
        out.set_batch(x.batch());
        select(&mut cache.gemm, x, &cache.one_hot, out);
    }
    fn backward_into(
        &mut self,
        x: &Tensor<S2<T, D>, B, E>,
        _out: &Tensor<S1<D>, B, E>,
        cache: &mut LastStepCache<B, E>,
        dy: &Tensor<S1<D>, B, E>,
        dx: &mut Tensor<S2<T, D>, B, E>,
    ) {
        dx.set_batch(x.batch());
        // dx_n [T, D] = e [T, 1] dy_n [1, D]: zero except the last row.
        let batch = Batch {
            count: x.batch(),
            a_stride: 0,
            b_stride: D,
            c_stride: T * D,
            ..Batch::one()
        };
        if x.batch() > 0 {
            x.device().gemm_batched_ws(
                &mut cache.gemm,
                Gemm::new(T, D, 1, false, false),
                batch,
                &cache.one_hot,
                dy.buf(),
                dx.buf_mut(),
            );
        }
    }
}

/// `y_n [1, D] = e^T [1, T] x_n [T, D]` for every sample.
fn select<const T: usize, const D: usize, B: Backend, E: Float>(
    ws: &mut GemmWorkspace,
    x: &Tensor<S2<T, D>, B, E>,
    e: &B::Buf<E>,
    y: &mut Tensor<S1<D>, B, E>,
) {
    if x.batch() == 0 {
        return;
    }
    let batch = Batch {
        count: x.batch(),
        a_stride: 0,
        b_stride: T * D,
        c_stride: D,
        ..Batch::one()
    };
    x.device()
        .gemm_batched_ws(ws, Gemm::new(1, D, T, false, false), batch, e, x.buf(), y.buf_mut());
}

#[cfg(test)]
mod tests;
