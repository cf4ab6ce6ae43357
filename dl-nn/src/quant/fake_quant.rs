//! Fake quantization for quantization-aware training: values are rounded
//! to the integer grid and back in floating point, so training sees the
//! quantization error; the gradient is the straight-through estimator
//! (passed where the value was inside the grid's range, zero where it was
//! clamped).
//!
//! **PyTorch equivalent**: `torch.fake_quantize_per_tensor_affine`,
//! `torch.fake_quantize_per_channel_affine`, and the `FakeQuantize` module
//! with a moving-average min/max observer (averaging constant 0.01).

use crate::module::{Layer, Module, OutputShape};
use dl_core::{Backend, Cpu, Float, ParamKind, RawParam, Shape, Tensor};

/// The integer grid of a fake quantization: `[outer, channels, inner]`
/// data with one `scale`/`zero_point` per channel (per tensor:
/// `channels = 1`), levels clamped to `qmin..=qmax`.
#[derive(Clone, Copy, Debug)]
pub struct QuantGrid<'a> {
    /// Scale per channel.
    pub scale: &'a [f32],
    /// Zero point per channel.
    pub zero_point: &'a [i32],
    /// `(outer, channels, inner)`.
    pub dims: (usize, usize, usize),
    /// Lowest level.
    pub qmin: i32,
    /// Highest level.
    pub qmax: i32,
}

impl QuantGrid<'_> {
    /// Number of elements the dims describe.
    fn len(&self) -> usize {
        let (outer, channels, inner) = self.dims;
        outer * channels * inner
    }

    /// The unclamped level `round_half_even(x / scale) + zp` of element `i`
    /// of value `x`, with its channel's scale and zero point.
    fn level(&self, i: usize, x: f32) -> (f32, f32, f32) {
        let (_, channels, inner) = self.dims;
        let c = (i / inner) % channels;
        let (s, z) = (self.scale[c], self.zero_point[c] as f32);
        ((x * (1.0 / s)).round_ties_even() + z, s, z)
    }

    /// Whether a level is inside `qmin..=qmax`.
    fn holds(&self, q: f32) -> bool {
        q >= self.qmin as f32 && q <= self.qmax as f32
    }
}

/// `y = (clamp(round_half_even(x / scale) + zp, qmin, qmax) - zp) * scale`
/// on the `grid`. Computed in `f32`.
///
/// # Panics
/// If the lengths do not match the dims (an internal invariant).
pub fn fake_quant_forward(x: &[f32], grid: QuantGrid<'_>, y: &mut [f32]) {
    assert!(x.len() == grid.len() && y.len() == x.len());
    assert!(grid.scale.len() == grid.dims.1 && grid.zero_point.len() == grid.dims.1);
    for (i, (y, &x)) in y.iter_mut().zip(x).enumerate() {
        let (q, s, z) = grid.level(i, x);
        *y = (q.clamp(grid.qmin as f32, grid.qmax as f32) - z) * s;
    }
}

/// Straight-through gradient of [`fake_quant_forward`]: `dx = dy` where
/// `qmin <= round(x / scale) + zp <= qmax`, else 0.
pub fn fake_quant_backward(x: &[f32], grid: QuantGrid<'_>, dy: &[f32], dx: &mut [f32]) {
    assert!(x.len() == grid.len() && dy.len() == x.len() && dx.len() == x.len());
    for (i, ((dx, &x), &dy)) in dx.iter_mut().zip(x).zip(dy).enumerate() {
        *dx = if grid.holds(grid.level(i, x).0) { dy } else { 0.0 };
    }
}

/// Affine parameters covering `[lo, hi]` (widened to contain 0) on `qmin..=qmax`.
fn params(lo: f32, hi: f32, qmin: i32, qmax: i32) -> (f32, i32) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let steps = (qmax - qmin) as f32;
    let scale = if hi - lo > f32::MIN_POSITIVE * steps {
        (hi - lo) / steps
    } else {
        1.0
    };
    let zp = (qmin as f32 - (lo / scale).round()).clamp(qmin as f32, qmax as f32) as i32;
    (scale, zp)
}

/// The cache of the fake-quant layers: the parameters the forward pass used.
#[derive(Clone, Debug, Default)]
pub struct FakeQuantCache {
    scale: Vec<f32>,
    zero_point: Vec<i32>,
}

macro_rules! fake_quant_layer {
    ($(#[$m:meta])* $name:ident $(<const $c:ident: usize>)?, $channels:expr, $qmin:expr, $qmax:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, Module)]
        #[module(crate = crate)]
        pub struct $name<$(const $c: usize,)? B: Backend = Cpu, E: Float = f32> {
            /// Buffer `[channels, 2]`: running min and max (state_dict `range`).
            #[buffer(value = RawParam::zeros(dev, vec![$channels, 2], ParamKind::Buffer))]
            pub range: RawParam<B, E>,
            /// Smallest integer of the grid.
            #[skip(init = $qmin)]
            pub qmin: i32,
            /// Largest integer of the grid.
            #[skip(init = $qmax)]
            pub qmax: i32,
            /// Weight of a new batch in the running range (PyTorch: 0.01).
            #[skip(init = 0.01)]
            pub averaging: f32,
            /// Whether the running range holds an observation.
            #[skip]
            pub observed: bool,
            #[training]
            training: bool,
        }

        impl<$(const $c: usize,)? B: Backend, E: Float> $name<$($c,)? B, E> {
            /// Current `(scale, zero_point)` per channel.
            pub fn qparams(&self) -> (Vec<f32>, Vec<i32>) {
                let r = self.range.value_vec();
                r.chunks_exact(2)
                    .map(|p| params(p[0].to_f64() as f32, p[1].to_f64() as f32, self.qmin, self.qmax))
                    .unzip()
            }

            fn dims(&self, len: usize) -> (usize, usize, usize) {
                let ch = $channels;
                let per = len / ch.max(1);
                // Per sample: `channels` blocks of `inner` values.
                (1, ch, per)
            }

            fn observe(&mut self, x: &[f32], batch: usize) {
                let ch: usize = $channels;
                let per_sample = if batch == 0 { 0 } else { x.len() / batch };
                let inner = per_sample / ch.max(1);
                let mut r = self.range.value_vec().iter().map(|v| v.to_f64() as f32).collect::<Vec<_>>();
                for c in 0..ch {
                    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
                    for b in 0..batch {
                        for &v in &x[b * per_sample + c * inner..b * per_sample + (c + 1) * inner] {
                            lo = lo.min(v);
                            hi = hi.max(v);
                        }
                    }
                    if !lo.is_finite() || !hi.is_finite() {
                        continue;
                    }
                    if self.observed {
                        r[2 * c] += self.averaging * (lo - r[2 * c]);
                        r[2 * c + 1] += self.averaging * (hi - r[2 * c + 1]);
                    } else {
                        r[2 * c] = lo;
                        r[2 * c + 1] = hi;
                    }
                }
                self.observed = true;
                let v: Vec<E> = r.into_iter().map(|v| E::from_f64(v as f64)).collect();
                self.range.set_value(&v).expect("range has [channels, 2] elements");
            }

            fn run(&self, x: &[f32], batch: usize, cache: &mut FakeQuantCache) -> Vec<f32> {
                let (scale, zp) = self.qparams();
                let per_sample = if batch == 0 { 0 } else { x.len() / batch };
                let (_, ch, inner) = self.dims(per_sample);
                let mut y = vec![0f32; x.len()];
                let grid = QuantGrid {
                    scale: &scale,
                    zero_point: &zp,
                    dims: (batch, ch, inner),
                    qmin: self.qmin,
                    qmax: self.qmax,
                };
                fake_quant_forward(x, grid, &mut y);
                cache.scale = scale;
                cache.zero_point = zp;
                y
            }
        }

        impl<$(const $c: usize,)? S: Shape, B: Backend, E: Float> OutputShape<S> for $name<$($c,)? B, E> {
            type Out = S;
        }

        impl<$(const $c: usize,)? S: Shape, B: Backend, E: Float> Layer<S, S, B, E> for $name<$($c,)? B, E> {
            type Cache = FakeQuantCache;
            fn new_cache(_dev: &B) -> FakeQuantCache {
                FakeQuantCache::default()
            }
            fn forward_into(&self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>) {
                let host: Vec<f32> = x.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
                let y = if self.observed { self.run(&host, x.batch(), &mut FakeQuantCache::default()) } else { host };
                let y: Vec<E> = y.into_iter().map(|v| E::from_f64(v as f64)).collect();
                out.set_batch(x.batch());
                x.device().write(out.buf_mut(), &y);
            }
            fn forward_train_into(&mut self, x: &Tensor<S, B, E>, out: &mut Tensor<S, B, E>, cache: &mut FakeQuantCache) {
                let host: Vec<f32> = x.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
                if self.training {
                    self.observe(&host, x.batch());
                }
                let y = if self.observed {
                    self.run(&host, x.batch(), cache)
                } else {
                    cache.scale.clear();
                    host
                };
                let y: Vec<E> = y.into_iter().map(|v| E::from_f64(v as f64)).collect();
                out.set_batch(x.batch());
                x.device().write(out.buf_mut(), &y);
            }
            fn backward_into(
                &mut self,
                x: &Tensor<S, B, E>,
                _out: &Tensor<S, B, E>,
                cache: &mut FakeQuantCache,
                dy: &Tensor<S, B, E>,
                dx: &mut Tensor<S, B, E>,
            ) {
                dx.set_batch(x.batch());
                if cache.scale.is_empty() {
                    dx.copy_from(dy);
                    return;
                }
                let xs: Vec<f32> = x.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
                let dys: Vec<f32> = dy.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
                let (_, ch, inner) = self.dims(S::NUMEL);
                let mut g = vec![0f32; xs.len()];
                let grid = QuantGrid {
                    scale: &cache.scale,
                    zero_point: &cache.zero_point,
                    dims: (x.batch(), ch, inner),
                    qmin: self.qmin,
                    qmax: self.qmax,
                };
                fake_quant_backward(&xs, grid, &dys, &mut g);
                let g: Vec<E> = g.into_iter().map(|v| E::from_f64(v as f64)).collect();
                x.device().write(dx.buf_mut(), &g);
            }
        }
    };
}

fake_quant_layer!(
    /// Per-tensor fake quantization of activations on the `u8` grid
    /// (`0..=255`, the grid of the integer model), with a moving-average
    /// min/max observer in training mode. Any shape; inside `#[network]`:
    /// `fq: FakeQuant,`. Before its first training batch it passes values
    /// through unchanged.
    ///
    /// ```
    /// use dl_nn::prelude::*;
    /// use dl_nn::quant::FakeQuant;
    /// use dl_core::{Cpu, Tensor, S1};
    /// let mut fq = <FakeQuant as Module<Cpu, f32>>::init(&Cpu, 0);
    /// let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![0.0, 0.1, 0.5, 1.0]).unwrap();
    /// let mut y = Tensor::empty(&Cpu);
    /// let mut cache = <FakeQuant as Layer<S1<4>, S1<4>, Cpu, f32>>::new_cache(&Cpu);
    /// fq.forward_train_into(&x, &mut y, &mut cache); // observes [0, 1]: scale 1/255
    /// let y = y.to_vec();
    /// assert!((y[1] - 0.1).abs() <= 0.5 / 255.0 + 1e-7 && y[3] == 1.0);
    /// ```
    FakeQuant,
    1usize,
    0,
    255
);

fake_quant_layer!(
    /// Per-channel fake quantization on the `i8` grid (`-128..=127`): one
    /// range per channel of the sample's first axis (`C` of `[C, H, W]`, or
    /// each feature of a vector), each with its own moving-average min/max.
    /// Inside `#[network]`: `fq: FakeQuantPerChannel<32>,`.
    FakeQuantPerChannel<const C: usize>,
    C,
    -128,
    127
);
