//! Pooling over sequences `[C, L]`: `MaxPool1d`, `AvgPool1d` and
//! `GlobalAvgPool1d` (PyTorch's `nn.MaxPool1d`, `nn.AvgPool1d`,
//! `nn.AdaptiveAvgPool1d(1)` followed by a flatten).

use crate::module::Module;
use dl_core::ops::pool1d::Pool1dDims;
use dl_core::shape::conv_out;
use dl_core::{Backend, Cpu, Float, S1, S2};
use std::marker::PhantomData;

fn pool_dims<const K: usize, const STRIDE: usize, const PAD: usize, const C: usize, const L: usize, const LO: usize>(
    n: usize,
) -> Pool1dDims {
    const { assert!(K > 0 && STRIDE > 0, "pooling: the window K and STRIDE must be positive") };
    const { assert!(PAD <= K / 2, "pooling: PAD must be at most K / 2 (as in PyTorch)") };
    const {
        assert!(
            matches!(conv_out(L, K, STRIDE, PAD), Some(o) if o == LO),
            "pooling: the output length must be (L + 2*PAD - K)/STRIDE + 1"
        )
    };
    Pool1dDims {
        n,
        c: C,
        l: L,
        k: K,
        stride: STRIDE,
        pad: PAD,
    }
}

super::pool::pool_layer! {
    /// Max pooling over a window of `K` positions, stride `STRIDE` (default
    /// `K`), padding `PAD` (`-inf`; at most `K / 2`): `S2<C, L>` -> `S2<C, LO>`.
    ///
    /// **PyTorch equivalent**: `nn.MaxPool1d(K, STRIDE, PAD)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let x = Tensor::<S2<1, 4>>::from_vec(&Cpu, 1, vec![1.0, 5.0, 2.0, 0.0]).unwrap();
    /// let y: Tensor<S2<1, 2>> = MaxPool1d::<2>::default().forward(&x);
    /// assert_eq!(y.to_vec(), vec![5.0, 2.0]);
    /// ```
    max MaxPool1d(max_pool1d_forward, max_pool1d_backward), pool_dims::<C, L, LO>: S2<C, L> => S2<C, LO>
}

super::pool::pool_layer! {
    /// Average pooling over a window of `K` positions, stride `STRIDE` (default
    /// `K`), zero padding `PAD` counted in the divisor (`count_include_pad`):
    /// `S2<C, L>` -> `S2<C, LO>`.
    ///
    /// **PyTorch equivalent**: `nn.AvgPool1d(K, STRIDE, PAD)`.
    ///
    /// ```
    /// use dl_core::prelude::*;
    /// use dl_nn::prelude::*;
    /// let x = Tensor::<S2<1, 4>>::from_vec(&Cpu, 1, vec![1.0, 5.0, 2.0, 0.0]).unwrap();
    /// let y: Tensor<S2<1, 2>> = AvgPool1d::<2>::default().forward(&x);
    /// assert_eq!(y.to_vec(), vec![3.0, 1.0]);
    /// ```
    avg AvgPool1d(avg_pool1d_forward, avg_pool1d_backward), pool_dims::<C, L, LO>: S2<C, L> => S2<C, LO>
}

/// Mean over the length axis: `S2<C, L>` -> `S1<C>`.
///
/// **PyTorch equivalent**: `nn.AdaptiveAvgPool1d(1)` then `flatten(1)`
/// (or `x.mean(dim=2)`).
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let x = Tensor::<S2<2, 2>>::from_vec(&Cpu, 1, vec![1.0, 3.0, 2.0, 6.0]).unwrap();
/// let y: Tensor<S1<2>> = GlobalAvgPool1d::<Cpu, f32>::default().forward(&x);
/// assert_eq!(y.to_vec(), vec![2.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = crate, builtin)]
pub struct GlobalAvgPool1d<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

super::seq_mean::mean_layer!(
    [C, L] GlobalAvgPool1d: S2<C, L> => S1<C>,
    |n| (n * C, L, 1),
    "GlobalAvgPool1d: the length L must be positive"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::check_layer;
    use dl_core::Tensor;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    #[test]
    fn gradient_checks() {
        let x = Tensor::<S2<2, 7>, Cpu, f64>::randn(&Cpu, 2, &mut Rng::new(5));
        check_layer::<_, S2<2, 4>, _>(&MaxPool1d::<3, 2, 1, Cpu, f64>::default(), &x, true);
        check_layer::<_, S2<2, 4>, _>(&AvgPool1d::<3, 2, 1, Cpu, f64>::default(), &x, true);
        check_layer::<_, S1<2>, _>(&GlobalAvgPool1d::<Cpu, f64>::default(), &x, true);
    }
}
