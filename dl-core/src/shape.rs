//! Per-sample shapes as types.
//!
//! A shape is a zero-sized type whose dimensions are const generics:
//! `S1<784>`, `S3<1, 28, 28>`. The batch dimension is not part of it; it is a
//! runtime size held by the [`Tensor`](crate::Tensor).

/// A per-sample shape known at compile time.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tensor shape",
    note = "shapes are `S1<N>`, `S2<A, B>`, `S3<C, H, W>` or `S4<A, B, C, D>`"
)]
pub trait Shape: 'static + Copy + Clone + Default + Send + Sync + std::fmt::Debug {
    /// Number of dimensions.
    const RANK: usize;
    /// The dimensions, outermost first.
    const DIMS: &'static [usize];
    /// Product of the dimensions: elements per sample.
    const NUMEL: usize;
    /// The dimensions as a `Vec` (for messages and files).
    fn dims() -> Vec<usize> {
        Self::DIMS.to_vec()
    }
}

macro_rules! shape {
    ($(#[$m:meta])* $name:ident, $rank:expr, $($d:ident),+) => {
        $(#[$m])*
        #[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Hash)]
        pub struct $name<$(const $d: usize),+>;
        impl<$(const $d: usize),+> Shape for $name<$($d),+> {
            const RANK: usize = $rank;
            const DIMS: &'static [usize] = &[$($d),+];
            const NUMEL: usize = 1 $(* $d)+;
        }
    };
}
shape!(
    /// Rank-1 per-sample shape `[A]` (features).
    S1, 1, A
);
shape!(
    /// Rank-2 per-sample shape `[A, B]` (for example a sequence `[T, D]`).
    S2, 2, A, B
);
shape!(
    /// Rank-3 per-sample shape `[C, H, W]` (an image).
    S3, 3, A, B, C
);
shape!(
    /// Rank-4 per-sample shape (parameters such as conv weights `[O, I, K, K]`).
    S4, 4, A, B, C, D
);

/// Output length of a convolution or pooling window (`(input + 2 pad - k)
/// / stride + 1`, `None` when it does not fit or overflows): the one rule
/// the `#[network]` macro and the runtime share (`dl-shape`).
pub use dl_shape::{conv_out, defaults};

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn dims_and_numel() {
        assert_eq!(S3::<1, 28, 28>::DIMS, &[1, 28, 28]);
        assert_eq!(S3::<1, 28, 28>::NUMEL, 784);
        assert_eq!(S1::<7>::RANK, 1);
    }
    #[test]
    fn conv_out_sizes() {
        assert_eq!(conv_out(28, 3, 1, 0), Some(26));
        assert_eq!(conv_out(8, 3, 2, 1), Some(4));
        assert_eq!(conv_out(2, 3, 1, 0), None);
        assert_eq!(conv_out(5, 1, 0, 0), None);
    }
}
