//! The typed attention layers.

use super::{mha_backward, mha_forward, AttnMask, MhaCache, MhaDims, MhaGrads, MhaWeights, MhaWorkspace};
use crate::layers::linear::Linear;
use crate::module::{Layer, Module, OutputShape};
use dl_core::init::Init;
use dl_core::ops::matmul::GemmWorkspace;
use dl_core::shape::defaults;
use dl_core::{Backend, Cpu, Float, ParamKind, RawParam, Rng, Tensor, S2};

/// What an attention layer keeps for its backward pass: the forward
/// intermediates and the backward's scratch buffers, reused across steps.
#[derive(Clone, Debug)]
pub struct AttentionCache<B: Backend, E: Float> {
    /// The forward pass's intermediates.
    pub fwd: MhaCache<B, E>,
    /// Scratch buffers of the backward pass.
    pub work: MhaWorkspace<B, E>,
}

impl<B: Backend, E: Float> AttentionCache<B, E> {
    /// Empty buffers on `dev`.
    pub fn new(dev: &B) -> Self {
        Self {
            fwd: MhaCache::new(dev),
            work: MhaWorkspace::new(dev),
        }
    }
}

/// Declares a self-attention layer: the struct (PyTorch's parameters and
/// names), whose third const parameter `$c` chooses the keys each query
/// sees through `$mask`, and its `Layer` impl.
macro_rules! attention_layer {
    ($(#[$doc:meta])* $name:ident, [$c:ident : $ct:ty $(= $default:block)?], $mask:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Module)]
        #[module(crate = crate, builtin, init = Self::init_params, num_params = 4 * D_MODEL * D_MODEL + 4 * D_MODEL)]
        pub struct $name<
            const D_MODEL: usize,
            const HEADS: usize,
            const $c: $ct $(= $default)?,
            B: Backend = Cpu,
            E: Float = f32,
        > {
            /// `in_proj_weight [3 D_MODEL, D_MODEL]`: the query, key and value
            /// projections stacked by rows.
            #[param]
            pub in_proj_weight: RawParam<B, E>,
            /// `in_proj_bias [3 D_MODEL]`.
            #[param]
            pub in_proj_bias: RawParam<B, E>,
            /// The output projection (`out_proj.weight`, `out_proj.bias`).
            pub out_proj: Linear<D_MODEL, D_MODEL, B, E>,
        }

        impl<const D_MODEL: usize, const HEADS: usize, const $c: $ct, B: Backend, E: Float>
            $name<D_MODEL, HEADS, $c, B, E>
        {
            const CHECK: () = assert!(
                HEADS > 0 && D_MODEL % HEADS == 0,
                "MultiHeadAttention: D_MODEL must be divisible by HEADS"
            );

            /// Which keys each query sees.
            pub fn mask() -> AttnMask {
                $mask
            }

            /// PyTorch's initialisation: Xavier-uniform `in_proj_weight`, zero biases,
            /// `out_proj` weight as `Linear`'s.
            fn init_params(dev: &B, rng: &mut Rng) -> Self {
                let () = Self::CHECK;
                let mut in_proj_weight = RawParam::zeros(dev, vec![3 * D_MODEL, D_MODEL], ParamKind::Trainable);
                let v: Vec<E> = Init::XavierUniform {
                    fan_in: D_MODEL,
                    fan_out: 3 * D_MODEL,
                }
                .sample(rng, 3 * D_MODEL * D_MODEL)
                .into_iter()
                .map(E::from_f64)
                .collect();
                dev.write(&mut in_proj_weight.value, &v);
                let mut out_proj = Linear::init_with(dev, rng);
                dev.fill(&mut out_proj.bias.raw_mut().value, E::ZERO);
                Self {
                    in_proj_weight,
                    in_proj_bias: RawParam::zeros(dev, vec![3 * D_MODEL], ParamKind::Trainable),
                    out_proj,
                }
            }

            fn dims(n: usize, t: usize) -> MhaDims {
                let () = Self::CHECK;
                MhaDims {
                    n,
                    t,
                    d_model: D_MODEL,
                    heads: HEADS,
                    mask: Self::mask(),
                }
            }

            fn weights(&self) -> MhaWeights<'_, B, E> {
                MhaWeights {
                    in_proj_weight: &self.in_proj_weight.value,
                    in_proj_bias: &self.in_proj_bias.value,
                    out_proj_weight: &self.out_proj.weight.value,
                    out_proj_bias: &self.out_proj.bias.value,
                }
            }

            fn run_forward<const T: usize>(
                &self,
                x: &Tensor<S2<T, D_MODEL>, B, E>,
                out: &mut Tensor<S2<T, D_MODEL>, B, E>,
                cache: &mut AttentionCache<B, E>,
            ) {
                out.set_batch(x.batch());
                let dev = x.device().clone();
                mha_forward(
                    &dev,
                    Self::dims(x.batch(), T),
                    self.weights(),
                    x.buf(),
                    out.buf_mut(),
                    &mut cache.fwd,
                );
            }

            fn run_backward<const T: usize>(
                &mut self,
                x: &Tensor<S2<T, D_MODEL>, B, E>,
                cache: &mut AttentionCache<B, E>,
                dy: &Tensor<S2<T, D_MODEL>, B, E>,
                dx: Option<&mut B::Buf<E>>,
            ) {
                let dev = x.device().clone();
                let ow = self.out_proj.weight.raw_mut();
                let ob = self.out_proj.bias.raw_mut();
                let w = MhaWeights {
                    in_proj_weight: &self.in_proj_weight.value,
                    in_proj_bias: &self.in_proj_bias.value,
                    out_proj_weight: &ow.value,
                    out_proj_bias: &ob.value,
                };
                let g = MhaGrads {
                    in_proj_weight: &mut self.in_proj_weight.grad,
                    in_proj_bias: &mut self.in_proj_bias.grad,
                    out_proj_weight: &mut ow.grad,
                    out_proj_bias: &mut ob.grad,
                };
                mha_backward(
                    &dev,
                    Self::dims(x.batch(), T),
                    w,
                    x.buf(),
                    &cache.fwd,
                    &mut cache.work,
                    dy.buf(),
                    dx,
                    g,
                );
            }
        }

        impl<const T: usize, const D_MODEL: usize, const HEADS: usize, const $c: $ct, B: Backend, E: Float>
            OutputShape<S2<T, D_MODEL>> for $name<D_MODEL, HEADS, $c, B, E>
        {
            type Out = S2<T, D_MODEL>;
        }

        impl<const T: usize, const D_MODEL: usize, const HEADS: usize, const $c: $ct, B: Backend, E: Float>
            Layer<S2<T, D_MODEL>, S2<T, D_MODEL>, B, E> for $name<D_MODEL, HEADS, $c, B, E>
        {
            type Cache = AttentionCache<B, E>;

            fn new_cache(dev: &B) -> AttentionCache<B, E> {
                AttentionCache::new(dev)
            }
            fn forward_into(&self, x: &Tensor<S2<T, D_MODEL>, B, E>, out: &mut Tensor<S2<T, D_MODEL>, B, E>) {
                // No cache in inference: the intermediates are allocated
                // here, the GEMMs pack into the thread's workspace.
                let mut cache = AttentionCache::new(x.device());
                GemmWorkspace::with_thread_local(|ws| {
                    std::mem::swap(&mut cache.fwd.gemm, ws);
                    self.run_forward(x, out, &mut cache);
                    std::mem::swap(&mut cache.fwd.gemm, ws);
                });
            }
            fn forward_train_into(
                &mut self,
                x: &Tensor<S2<T, D_MODEL>, B, E>,
                out: &mut Tensor<S2<T, D_MODEL>, B, E>,
                cache: &mut AttentionCache<B, E>,
            ) {
                self.run_forward(x, out, cache);
            }
            fn backward_into(
                &mut self,
                x: &Tensor<S2<T, D_MODEL>, B, E>,
                _out: &Tensor<S2<T, D_MODEL>, B, E>,
                cache: &mut AttentionCache<B, E>,
                dy: &Tensor<S2<T, D_MODEL>, B, E>,
                dx: &mut Tensor<S2<T, D_MODEL>, B, E>,
            ) {
                dx.set_batch(x.batch());
                self.run_backward(x, cache, dy, Some(dx.buf_mut()));
            }
            fn backward_params_into(
                &mut self,
                x: &Tensor<S2<T, D_MODEL>, B, E>,
                _out: &Tensor<S2<T, D_MODEL>, B, E>,
                cache: &mut AttentionCache<B, E>,
                dy: &Tensor<S2<T, D_MODEL>, B, E>,
                _dx: &mut Tensor<S2<T, D_MODEL>, B, E>,
            ) {
                self.run_backward(x, cache, dy, None);
            }
        }
    };
}

attention_layer! {
    /// Multi-head self-attention over a sequence: `S2<T, D_MODEL>` ->
    /// `S2<T, D_MODEL>`, `HEADS` heads of `D_MODEL / HEADS` features, causal
    /// (query `i` attends keys `j <= i`) when `CAUSAL`.
    ///
    /// Parameters and their `state_dict` names follow PyTorch:
    /// `in_proj_weight [3 D, D]` (rows `W_q; W_k; W_v`), `in_proj_bias [3 D]`,
    /// `out_proj.weight [D, D]`, `out_proj.bias [D]`; initialisation as
    /// PyTorch's (`xavier_uniform_` for `in_proj_weight`, zero biases,
    /// `out_proj.weight` like a Linear). No dropout.
    ///
    /// **PyTorch equivalent**: `nn.MultiheadAttention(D_MODEL, HEADS,
    /// batch_first=True)` called as `mha(x, x, x, need_weights=False)` (with
    /// `attn_mask=nn.Transformer.generate_square_subsequent_mask(T)`,
    /// `is_causal=True` when `CAUSAL`).
    ///
    /// `D_MODEL` must be divisible by `HEADS` (checked at compile time):
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let mha = MultiHeadAttention::<8, 2, true>::init(&Cpu, 0);
    /// let x = Tensor::<S2<5, 8>>::randn(&Cpu, 3, &mut Rng::new(1));
    /// let y: Tensor<S2<5, 8>> = mha.forward(&x);
    /// assert_eq!(y.shape(), vec![3, 5, 8]);
    /// ```
    MultiHeadAttention, [CAUSAL: bool = { defaults::CAUSAL }],
    AttnMask { causal: CAUSAL, window: None }
}
attention_layer! {
    /// Local (windowed) multi-head self-attention: as [`MultiHeadAttention`],
    /// but query `i` attends only keys with `|i - j| <= WINDOW` (a band, in
    /// both directions).
    ///
    /// Same parameters, names and initialisation as [`MultiHeadAttention`].
    ///
    /// **PyTorch equivalent**: `nn.MultiheadAttention(D_MODEL, HEADS,
    /// batch_first=True)` with the boolean `attn_mask = (i - j).abs() > WINDOW`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let att = LocalAttention::<8, 4, 2>::init(&Cpu, 0);
    /// let x = Tensor::<S2<6, 8>>::randn(&Cpu, 2, &mut Rng::new(1));
    /// assert_eq!(att.forward(&x).shape(), vec![2, 6, 8]);
    /// ```
    LocalAttention, [WINDOW: usize],
    AttnMask { causal: false, window: Some(WINDOW) }
}
