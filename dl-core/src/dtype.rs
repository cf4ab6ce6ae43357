//! Element types: [`Float`] is implemented by `f32` and `f64`; [`half`]
//! converts to and from the 16-bit storage formats bf16 and f16.

pub mod half;

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// Runtime tag of an element type (for files and error messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DType::F32 => "F32",
            DType::F64 => "F64",
        })
    }
}

/// With the `cuda` feature, what device buffers need of an element type
/// (`dl_cuda::FloatElem`: plain data that cuBLAS multiplies); without it,
/// nothing. A supertrait of [`Float`], so generic kernels can move any
/// `Float` to and from a GPU.
#[cfg(feature = "cuda")]
pub trait DeviceElem: dl_cuda::FloatElem {}
#[cfg(feature = "cuda")]
impl<T: dl_cuda::FloatElem> DeviceElem for T {}
/// With the `cuda` feature, what device buffers need of an element type;
/// without it (this build), nothing.
#[cfg(not(feature = "cuda"))]
pub trait DeviceElem {}
#[cfg(not(feature = "cuda"))]
impl<T> DeviceElem for T {}

/// A floating-point element type that kernels compute in.
///
/// Implemented for `f32` (training) and `f64` (gradient checks, optimizer
/// golden vectors). The math functions forward to `std`/`libm`.
pub trait Float:
    Copy
    + Send
    + Sync
    + 'static
    + Debug
    + Display
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + DeviceElem
    + crate::ops::mono::CpuKernels<Self>
    + crate::ops::mono::CpuUnary
{
    /// The runtime tag.
    const DTYPE: DType;
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Negative infinity.
    const NEG_INFINITY: Self;
    /// Converts from `f64` (rounding for `f32`).
    fn from_f64(v: f64) -> Self;
    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;
    /// Converts from `usize`.
    fn from_usize(v: usize) -> Self {
        Self::from_f64(v as f64)
    }
    /// e^x.
    fn exp(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Error function.
    fn erf(self) -> Self;
    /// x^p.
    fn powf(self, p: Self) -> Self;
    /// |x|.
    fn abs(self) -> Self;
    /// ln(1 + x), accurate near 0.
    fn ln_1p(self) -> Self;
    /// Larger of two (NaN-propagating is not guaranteed).
    fn max(self, o: Self) -> Self;
    /// Smaller of two.
    fn min(self, o: Self) -> Self;
    /// Whether finite (not NaN or infinite).
    fn is_finite(self) -> bool;
    /// Whether NaN.
    fn is_nan(self) -> bool;
    /// Runs `f` with this thread's reusable scratch buffer, resized to
    /// `len` elements (contents unspecified). CPU kernels use it for
    /// temporary copies, so that a training step does not allocate once the
    /// buffer has grown. A nested call (from a rayon job stolen while `f`
    /// runs) gets a fresh buffer instead, so it never panics.
    #[doc(hidden)]
    fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R;
    /// `dst[c * rows + r] = src[r * stride + c]` for `r < rows`, `c < cols`
    /// (SIMD for `f32` where the CPU allows; see `ops::matmul::transpose`).
    #[doc(hidden)]
    fn transpose(src: &[Self], rows: usize, cols: usize, stride: usize, dst: &mut [Self]);
    /// Dot product of the common prefix of `a` and `b` in a fixed
    /// summation order (SIMD for `f32` where the CPU allows; see
    /// `ops::matmul::dot`).
    #[doc(hidden)]
    fn dot(a: &[Self], b: &[Self]) -> Self;
    /// [`Float::dot`] of `a` with each of four rows, the same bits as four
    /// calls (`ops::matmul::dot`).
    #[doc(hidden)]
    fn dot4(a: &[Self], b: [&[Self]; 4]) -> [Self; 4];
}

/// `Float` methods that are the standard library's method of the same name
/// on `$t`, always inlined, by signature: `fn m(self) -> Self`,
/// `fn m(self, o: Self) -> Self` and `fn m(self) -> bool`.
macro_rules! std_methods {
    ($t:ty; Self: $($un:ident),*; (o) Self: $($bin:ident),*; bool: $($pred:ident),*) => {
        $(
            #[inline(always)]
            fn $un(self) -> Self {
                <$t>::$un(self)
            }
        )*
        $(
            #[inline(always)]
            fn $bin(self, o: Self) -> Self {
                <$t>::$bin(self, o)
            }
        )*
        $(
            #[inline(always)]
            fn $pred(self) -> bool {
                <$t>::$pred(self)
            }
        )*
    };
}

macro_rules! impl_float {
    ($t:ty, $d:expr, $erf:path, $transpose:path, $dot:path, $dot4:path) => {
        impl Float for $t {
            fn dot(a: &[Self], b: &[Self]) -> Self {
                $dot(a, b)
            }
            fn dot4(a: &[Self], b: [&[Self]; 4]) -> [Self; 4] {
                $dot4(a, b)
            }
            fn transpose(src: &[Self], rows: usize, cols: usize, stride: usize, dst: &mut [Self]) {
                $transpose(src, rows, cols, stride, dst)
            }
            fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [Self]) -> R) -> R {
                thread_local! {
                    static SCRATCH: std::cell::Cell<Vec<$t>> = const { std::cell::Cell::new(Vec::new()) };
                }
                let mut buf = SCRATCH.with(|s| s.take());
                // Grow only: shrinking and growing again would zero-fill the
                // difference on every call that alternates between sizes.
                if buf.len() < len {
                    buf.resize(len, 0.0);
                }
                let r = f(&mut buf[..len]);
                SCRATCH.with(|s| {
                    let old = s.take();
                    // Keep the larger of the two (a nested call may have left one).
                    s.set(if old.capacity() > buf.capacity() { old } else { buf });
                });
                r
            }
            const DTYPE: DType = $d;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NEG_INFINITY: Self = <$t>::NEG_INFINITY;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
            std_methods!($t; Self: exp, ln, sqrt, tanh, abs, ln_1p; (o) Self: powf, max, min; bool: is_finite, is_nan);
        }
    };
}
impl_float!(
    f32,
    DType::F32,
    libm::erff,
    crate::ops::matmul::transpose::transpose_f32,
    crate::ops::matmul::dot::dot_f32,
    crate::ops::matmul::dot::dot4_f32
);
impl_float!(
    f64,
    DType::F64,
    libm::erf,
    crate::ops::matmul::transpose::transpose_portable,
    crate::ops::matmul::dot::dot_portable,
    crate::ops::matmul::dot::dot4_portable
);
