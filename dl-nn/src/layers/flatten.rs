//! Flatten each sample to a vector: `S3<C, H, W>` or `S2<A, B>` -> `S1<N>`
//! with `N` the product, in row-major order.
//!
//! The data do not move: the layer copies the input buffer into the
//! caller's output buffer (the [`Layer`](crate::module::Layer) protocol writes into `out`), and
//! backward copies the gradient back. Without a layer, use
//! [`Tensor::reshape`](dl_core::Tensor::reshape), which moves the buffer without a copy.
//!
//! **PyTorch equivalent**: `nn.Flatten()` (`start_dim=1`).

use crate::module::Module;
use dl_core::{Backend, Cpu, Error, Float, Result, S1, S2, S3};
use std::marker::PhantomData;

/// Flatten on flat buffers: copies `x` into `y` (resized). Row-major
/// `[N, C, H, W]` and `[N, C*H*W]` are the same bytes.
///
/// # Errors
/// [`Error::InvalidArgument`] when `x` does not hold `n * features` elements.
pub fn flatten_forward<B: Backend, E: Float>(
    dev: &B,
    x: &B::Buf<E>,
    y: &mut B::Buf<E>,
    n: usize,
    features: usize,
) -> Result<()> {
    if dev.len(x) != n * features {
        return Err(Error::InvalidArgument {
            op: "flatten",
            msg: format!(
                "input needs {n} x {features} = {} elements, got {}",
                n * features,
                dev.len(x)
            ),
        });
    }
    dev.copy(x, y);
    Ok(())
}

/// Flatten backward: copies `dy` into `dx` (resized), the same copy as
/// [`flatten_forward`] (whose errors it has).
pub use flatten_forward as flatten_backward;

/// Flattens each sample: `S3<C, H, W>` -> `S1<N>` with `N = C * H * W`, or
/// `S2<A, B>` -> `S1<N>` with `N = A * B` (checked at compile time:
/// "Flatten: N must be the product of the input dimensions").
///
/// ```
/// use dl_core::prelude::*;
/// use dl_nn::prelude::*;
/// let x = Tensor::<S3<2, 1, 2>>::from_vec(&Cpu, 1, vec![1.0, 2.0, 3.0, 4.0]).unwrap();
/// let y: Tensor<S1<4>> = Flatten::<Cpu, f32>::default().forward(&x);
/// assert_eq!(y.to_vec(), vec![1.0, 2.0, 3.0, 4.0]);
/// ```
#[derive(Clone, Copy, Debug, Default, Module)]
#[module(crate = crate, builtin)]
pub struct Flatten<B: Backend = Cpu, E: Float = f32>(PhantomData<(B, E)>);

const INVARIANT: &str = "Flatten: lengths checked at compile time disagree (a bug)";

macro_rules! flatten_impl {
    ([$($d:ident),+], $in:ty) => {
        super::cacheless_layer!(
            [$(const $d: usize,)+ const N: usize] Flatten<B, E>: $in => S1<N>,
            |_l, x, out| {
                const { assert!(N == 1 $(* $d)+, "Flatten: N must be the product of the input dimensions") };
                flatten_forward(x.device(), x.buf(), out.buf_mut(), x.batch(), N).expect(INVARIANT)
            },
            |dy, dx| flatten_backward(x.device(), dy.buf(), dx.buf_mut(), x.batch(), N).expect(INVARIANT)
        );
    };
}

flatten_impl!([C, H, W], S3<C, H, W>);
flatten_impl!([A, B2], S2<A, B2>);
// PyTorch's `nn.Flatten()` on `[N, C]` leaves it unchanged.
flatten_impl!([A], S1<A>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::test_util::{check_layer, state_dict};
    use crate::module::Layer;
    use dl_core::Tensor;
    #[allow(unused_imports)]
    use dl_core::{ParamKind, RawParam, Rng};

    #[test]
    fn gradient_check_3d_and_2d() {
        let mut rng = Rng::new(1);
        let f = Flatten::<Cpu, f64>::default();
        let x = Tensor::<S3<2, 3, 2>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
        assert_eq!(check_layer::<_, S1<12>, _>(&f, &x, true), 0);
        let x = Tensor::<S2<3, 5>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
        assert_eq!(check_layer::<_, S1<15>, _>(&f, &x, true), 0);
    }

    #[test]
    fn values_are_row_major_and_backward_copies_back() {
        let mut f = Flatten::<Cpu, f32>::default();
        let x = Tensor::<S2<2, 3>>::from_vec(&Cpu, 2, (0..12).map(|v| v as f32).collect()).unwrap();
        let (mut y, mut dx) = (Tensor::<S1<6>>::empty(&Cpu), Tensor::empty(&Cpu));
        f.forward_train_into(&x, &mut y, &mut ());
        assert_eq!((y.shape(), y.to_vec()), (vec![2, 6], x.to_vec()));
        f.backward_into(&x, &y, &mut (), &y, &mut dx);
        assert_eq!(dx.to_vec(), x.to_vec());
        assert!(state_dict(&f, "flat.").is_empty());
    }

    #[test]
    fn empty_batch_and_bad_flat_input() {
        let mut f = Flatten::<Cpu, f32>::default();
        let x = Tensor::<S3<2, 2, 2>>::zeros(&Cpu, 0);
        let (mut y, mut dx) = (Tensor::<S1<8>>::empty(&Cpu), Tensor::empty(&Cpu));
        f.forward_train_into(&x, &mut y, &mut ());
        f.backward_into(&x, &y, &mut (), &y, &mut dx);
        assert!(y.is_empty() && dx.is_empty());
        let mut out = vec![];
        assert!(flatten_forward(&Cpu, &vec![0f32; 7], &mut out, 2, 4).is_err());
    }
}
