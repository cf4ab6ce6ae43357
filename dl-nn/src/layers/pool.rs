//! Pooling layers on NCHW images: [`MaxPool2d`], [`AvgPool2d`] (square
//! windows, stride, padding; floor output size) and [`GlobalAvgPool2d`].
//!
//! `STRIDE` defaults to the window size `K`, as in PyTorch
//! (`MaxPool2d<2>` is `nn.MaxPool2d(2)`, stride 2).
//!
//! **PyTorch equivalent**: `nn.MaxPool2d(K, STRIDE, PAD)`,
//! `nn.AvgPool2d(K, STRIDE, PAD)` (`count_include_pad=True`),
//! `nn.AdaptiveAvgPool2d(1)` followed by `flatten(1)`.

use crate::module::{Module, OutputShape};
use dl_core::ops::pool2d::Pool2dDims;
use dl_core::shape::conv_out;
use dl_core::{Backend, Cpu, Float, S1, S3};
use std::marker::PhantomData;

/// Runtime dimensions of a typed pooling, with the compile-time checks of
/// the shape relation (`name` is the layer, for the messages).
#[inline(always)]
fn pool_dims<
    const K: usize,
    const STRIDE: usize,
    const PAD: usize,
    const C: usize,
    const H: usize,
    const W: usize,
    const OH: usize,
    const OW: usize,
>(
    n: usize,
) -> Pool2dDims {
    const {
        assert!(
            K > 0 && STRIDE > 0,
            "pooling: the window size K and STRIDE must be positive"
        )
    };
    const { assert!(PAD <= K / 2, "pooling: PAD must be at most K / 2") };
    const {
        assert!(
            H + 2 * PAD >= K && W + 2 * PAD >= K,
            "pooling: the padded input (H + 2*PAD, W + 2*PAD) must be at least as large as the window K"
        )
    };
    const {
        assert!(
            matches!(conv_out(H, K, STRIDE, PAD), Some(o) if o == OH),
            "pooling: output height must be (H + 2*PAD - K)/STRIDE + 1"
        )
    };
    const {
        assert!(
            matches!(conv_out(W, K, STRIDE, PAD), Some(o) if o == OW),
            "pooling: output width must be (W + 2*PAD - K)/STRIDE + 1"
        )
    };
    Pool2dDims {
        n,
        c: C,
        h: H,
        w: W,
        k: K,
        stride: STRIDE,
        pad: PAD,
    }
}

/// Declares one layer of the windowed pooling family (`MaxPool1d`,
/// `AvgPool1d`, `MaxPool2d`, `AvgPool2d`): a stateless unit struct over the
/// window `K`, `STRIDE` (default `K`, as in PyTorch) and `PAD`, and its
/// `Layer` impl from `$in` to `$out` for every size the const generics
/// `$dim` admit. `$dims::<K, STRIDE, PAD, $dim..>(n)` checks the shape
/// relation at compile time and gives the runtime dimensions of the
/// device's kernels `$fwd` and `$bwd`. A `max` layer keeps the argmax
/// position of every output element in its cache; an `avg` layer needs no
/// cache (its training forward is the inference one).
macro_rules! pool_layer {
    ($(#[$doc:meta])* max $name:ident($fwd:ident, $bwd:ident), $dims:ident::<$($dim:ident),+>: $in:ty => $out:ty) => {
        $crate::layers::pool::pool_layer!(@struct $(#[$doc])* $name);

        impl<const K: usize, const STRIDE: usize, const PAD: usize, $(const $dim: usize,)+ B: ::dl_core::Backend, E: ::dl_core::Float>
            $crate::module::Layer<$in, $out, B, E> for $name<K, STRIDE, PAD, B, E>
        {
            /// The argmax position of every output element.
            type Cache = B::Idx;

            fn new_cache(dev: &B) -> B::Idx {
                dev.idx_from_slice(&[])
            }
            fn forward_into(&self, x: &::dl_core::Tensor<$in, B, E>, out: &mut ::dl_core::Tensor<$out, B, E>) {
                let mut argmax = x.device().idx_from_slice(&[]);
                out.set_batch(x.batch());
                x.device()
                    .$fwd($dims::<K, STRIDE, PAD, $($dim),+>(x.batch()), x.buf(), out.buf_mut(), &mut argmax);
            }
            fn forward_train_into(
                &mut self,
                x: &::dl_core::Tensor<$in, B, E>,
                out: &mut ::dl_core::Tensor<$out, B, E>,
                cache: &mut B::Idx,
            ) {
                out.set_batch(x.batch());
                x.device()
                    .$fwd($dims::<K, STRIDE, PAD, $($dim),+>(x.batch()), x.buf(), out.buf_mut(), cache);
            }
            fn backward_into(
                &mut self,
                x: &::dl_core::Tensor<$in, B, E>,
                _out: &::dl_core::Tensor<$out, B, E>,
                cache: &mut B::Idx,
                dy: &::dl_core::Tensor<$out, B, E>,
                dx: &mut ::dl_core::Tensor<$in, B, E>,
            ) {
                dx.set_batch(x.batch());
                x.device()
                    .$bwd($dims::<K, STRIDE, PAD, $($dim),+>(x.batch()), cache, dy.buf(), dx.buf_mut());
            }
        }
    };
    ($(#[$doc:meta])* avg $name:ident($fwd:ident, $bwd:ident), $dims:ident::<$($dim:ident),+>: $in:ty => $out:ty) => {
        $crate::layers::pool::pool_layer!(@struct $(#[$doc])* $name);

        $crate::layers::cacheless_layer!(
            [const K: usize, const STRIDE: usize, const PAD: usize, $(const $dim: usize),+]
                $name<K, STRIDE, PAD, B, E>: $in => $out,
            |_l, x, out| x.device().$fwd($dims::<K, STRIDE, PAD, $($dim),+>(x.batch()), x.buf(), out.buf_mut()),
            |dy, dx| x.device().$bwd($dims::<K, STRIDE, PAD, $($dim),+>(x.batch()), dy.buf(), dx.buf_mut())
        );
    };
    (@struct $(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, $crate::module::Module)]
        #[module(crate = crate, builtin)]
        pub struct $name<
            const K: usize,
            const STRIDE: usize = K,
            const PAD: usize = { ::dl_core::shape::defaults::PAD },
            B: ::dl_core::Backend = ::dl_core::Cpu,
            E: ::dl_core::Float = f32,
        >(::std::marker::PhantomData<(B, E)>);
    };
}
pub(crate) use pool_layer;

pool_layer! {
    /// Max pooling with a `K x K` window, stride `STRIDE` (default `K`) and
    /// padding `PAD` (counted as `-inf`; at most `K / 2`), on `S3<C, H, W>` ->
    /// `S3<C, OH, OW>` with `OH = (H + 2 PAD - K) / STRIDE + 1`.
    ///
    /// **PyTorch equivalent**: `nn.MaxPool2d(K, STRIDE, PAD)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let x = Tensor::<S3<1, 2, 4>>::from_vec(&Cpu, 1, vec![1.0, 5.0, 2.0, 0.0, 3.0, 4.0, 8.0, 6.0]).unwrap();
    /// let y: Tensor<S3<1, 1, 2>> = MaxPool2d::<2>::default().forward(&x);
    /// assert_eq!(y.to_vec(), vec![5.0, 8.0]);
    /// ```
    max MaxPool2d(maxpool2d_forward, maxpool2d_backward), pool_dims::<C, H, W, OH, OW>: S3<C, H, W> => S3<C, OH, OW>
}

pool_layer! {
    /// Average pooling with a `K x K` window, stride `STRIDE` (default `K`) and
    /// zero padding `PAD` (at most `K / 2`), dividing by `K * K` everywhere
    /// (`count_include_pad`), on `S3<C, H, W>` -> `S3<C, OH, OW>`.
    ///
    /// **PyTorch equivalent**: `nn.AvgPool2d(K, STRIDE, PAD)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let x = Tensor::<S3<1, 2, 2>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 6.0]).unwrap();
    /// let y: Tensor<S3<1, 1, 1>> = AvgPool2d::<2>::default().forward(&x);
    /// assert_eq!(y.to_vec(), vec![3.0]);
    /// ```
    avg AvgPool2d(avgpool2d_forward, avgpool2d_backward), pool_dims::<C, H, W, OH, OW>: S3<C, H, W> => S3<C, OH, OW>
}

/// Global average pooling: `S3<C, H, W>` -> `S1<C>`, the mean of each
/// channel over the image (`H * W > 0`, checked at compile time).
///
/// **PyTorch equivalent**: `nn.AdaptiveAvgPool2d(1)` then `flatten(1)`.
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let x = Tensor::<S3<2, 1, 2>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 5.0, 9.0]).unwrap();
/// let y: Tensor<S1<2>> = GlobalAvgPool2d::<Cpu, f32>::default().forward(&x);
/// assert_eq!(y.to_vec(), vec![2.0, 7.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = crate, builtin)]
pub struct GlobalAvgPool2d<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

impl<const C: usize, const H: usize, const W: usize, B: Backend, E: Float> OutputShape<S3<C, H, W>>
    for GlobalAvgPool2d<B, E>
{
    type Out = S1<C>;
}

/// The planes `n * C` and their size `H * W` of a batch of `n` images.
fn global_dims<const C: usize, const H: usize, const W: usize>(n: usize) -> (usize, usize) {
    const { assert!(H * W > 0, "GlobalAvgPool2d: the image must not be empty (H * W > 0)") };
    (n * C, H * W)
}

super::cacheless_layer!(
    [const C: usize, const H: usize, const W: usize] GlobalAvgPool2d<B, E>: S3<C, H, W> => S1<C>,
    |_l, x, out| {
        let (planes, hw) = global_dims::<C, H, W>(x.batch());
        x.device().global_avgpool2d_forward(planes, hw, x.buf(), out.buf_mut())
    },
    |dy, dx| {
        let (planes, hw) = global_dims::<C, H, W>(x.batch());
        x.device().global_avgpool2d_backward(planes, hw, dy.buf(), dx.buf_mut())
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use crate::module::Layer;
    use dl_core::Tensor;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    /// Distinct values (so the max is unique and differentiable).
    fn distinct<const C: usize, const H: usize, const W: usize>(n: usize, seed: u64) -> Tensor<S3<C, H, W>, Cpu, f64> {
        let mut rng = Rng::new(seed);
        let len = n * C * H * W;
        let mut v: Vec<f64> = (0..len).map(|i| i as f64 * 0.1 - 0.5 * len as f64 * 0.1).collect();
        for i in (1..len).rev() {
            let j = (rng.uniform_range(0.0, 1.0) * (i + 1) as f64) as usize % (i + 1);
            v.swap(i, j);
        }
        Tensor::from_vec(&Cpu, n, v).unwrap()
    }

    #[test]
    fn max_pool_gradient_check() {
        let x = distinct::<2, 5, 6>(2, 1);
        check_layer::<_, S3<2, 2, 3>, _>(&MaxPool2d::<2, 2, 0, Cpu, f64>::default(), &x, true);
        check_layer::<_, S3<2, 3, 3>, _>(&MaxPool2d::<3, 2, 1, Cpu, f64>::default(), &x, true);
        check_layer::<_, S3<2, 2, 2>, _>(&MaxPool2d::<2, 3, 0, Cpu, f64>::default(), &x, true);
    }

    #[test]
    fn avg_pool_gradient_check() {
        let x = distinct::<2, 5, 6>(2, 2);
        check_layer::<_, S3<2, 2, 3>, _>(&AvgPool2d::<2, 2, 0, Cpu, f64>::default(), &x, true);
        check_layer::<_, S3<2, 5, 6>, _>(&AvgPool2d::<3, 1, 1, Cpu, f64>::default(), &x, true);
    }

    #[test]
    fn global_avg_pool_gradient_check_and_values() {
        let x = distinct::<3, 2, 3>(2, 3);
        let g = GlobalAvgPool2d::<Cpu, f64>::default();
        assert_eq!(check_layer::<_, S1<3>, _>(&g, &x, true), 0);
        let y = g.forward(&x);
        let xv = x.to_vec();
        let expect: Vec<f64> = xv.chunks(6).map(|c| c.iter().sum::<f64>() / 6.0).collect();
        for (a, b) in y.to_vec().iter().zip(&expect) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    /// `STRIDE` defaults to `K`; `forward` and `forward_train` agree.
    #[test]
    fn default_stride_is_the_window() {
        let x = Tensor::<S3<1, 4, 4>>::from_vec(&Cpu, 1, (0..16).map(|v| v as f32).collect()).unwrap();
        let mut p = MaxPool2d::<2>::default();
        let y: Tensor<S3<1, 2, 2>> = p.forward(&x);
        assert_eq!(y.to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
        let (mut out, mut cache) = (Tensor::empty(&Cpu), vec![]);
        Layer::<S3<1, 4, 4>, S3<1, 2, 2>, Cpu, f32>::forward_train_into(&mut p, &x, &mut out, &mut cache);
        assert_eq!((out.to_vec(), cache), (y.to_vec(), vec![5, 7, 13, 15]));
        let a: Tensor<S3<1, 2, 2>> = AvgPool2d::<2>::default().forward(&x);
        assert_eq!(a.to_vec(), vec![2.5, 4.5, 10.5, 12.5]);
    }

    #[test]
    fn no_state_dict_entries() {
        assert!(state_dict(&MaxPool2d::<2>::default(), "pool1.").is_empty());
        assert!(state_dict(&AvgPool2d::<2>::default(), "pool1.").is_empty());
        assert!(state_dict(&GlobalAvgPool2d::<Cpu, f32>::default(), "gap.").is_empty());
        assert_eq!(<MaxPool2d<2> as Module<Cpu, f32>>::NUM_PARAMS, 0);
    }

    #[test]
    fn empty_batch() {
        let x = Tensor::<S3<2, 4, 4>>::zeros(&Cpu, 0);
        let (mut out, mut dx, mut idx) = (Tensor::<S3<2, 2, 2>>::empty(&Cpu), Tensor::empty(&Cpu), vec![]);
        let mut p = MaxPool2d::<2>::default();
        p.forward_train_into(&x, &mut out, &mut idx);
        p.backward_into(&x, &out, &mut idx, &out.clone(), &mut dx);
        assert!(out.is_empty() && dx.is_empty() && idx.is_empty());
        let mut a = AvgPool2d::<2>::default();
        a.forward_train_into(&x, &mut out, &mut ());
        a.backward_into(&x, &out, &mut (), &out.clone(), &mut dx);
        assert!(out.is_empty() && dx.is_empty());
        let mut g = GlobalAvgPool2d::<Cpu, f32>::default();
        let mut o1 = Tensor::<S1<2>>::empty(&Cpu);
        g.forward_train_into(&x, &mut o1, &mut ());
        g.backward_into(&x, &o1, &mut (), &o1.clone(), &mut dx);
        assert!(o1.is_empty() && dx.is_empty());
    }
}
