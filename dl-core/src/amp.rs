//! Autocast: the precision the CPU backend's matrix products emulate
//! inside an [`autocast`] scope (PyTorch's `torch.autocast`).
//!
//! In a bf16 or f16 scope every `f32` matrix product of the CPU backend
//! (Linear, Conv2d through im2col, attention, the recurrent layers:
//! forward and backward; and Conv1d, whose direct kernel runs on rounded
//! operands, `ops/conv1d/autocast.rs`) computes what a tensor-core product
//! with `f32` accumulation
//! computes: both operands (and a fused bias) are rounded to the low
//! precision, the products of the rounded values are summed in `f32`, and
//! the result is rounded to the low precision once, after the fused bias
//! and activation. A product that accumulates into `C` (a weight gradient,
//! `dW += dYᵀX`) adds the rounded product to the `f32` `C`, as PyTorch adds
//! a bf16 gradient into an `f32` master weight's `.grad`. Everything else
//! (softmax, norms, losses, reductions, the optimizer) stays in `f32`, the
//! policy of `dl_nn::train::amp::PrecisionPolicy`.
//!
//! On the CPU this is an emulation for numerics (same speed as `f32`, a
//! little slower for the rounding passes): it lets a model be trained and
//! checked in bf16/f16 anywhere. On the CUDA backend (feature `cuda`)
//! the same products run on the tensor cores: the operands are converted
//! to bf16/f16, cuBLAS multiplies them with `f32` accumulation, and the
//! result is rounded as on the CPU (`ops/matmul/autocast.cu`); the parity
//! test `cuda::parity::autocast_products_match_the_cpu` compares the two
//! (it has not yet run on a GPU). Another backend is refused rather than
//! run in `f32`.
//!
//! ```
//! use dl_core::amp::{autocast, Precision};
//! use dl_core::{Cpu, GemmKernel, ops::matmul::Gemm};
//! let (a, b) = (vec![1.0f32 + 1.0 / 512.0], vec![3.0f32]);
//! let mut c = vec![0.0f32];
//! autocast(&Cpu, Precision::Bf16, || Cpu.gemm(Gemm::new(1, 1, 1, false, false), &a, &b, &mut c)).unwrap();
//! assert_eq!(c, vec![3.0]); // 1 + 2^-9 rounds to 1 in bf16
//! ```

use crate::ops::matmul::{default_path, GemmPath};
use crate::{Backend, Cpu, Error, Result};
use std::cell::Cell;

/// A compute precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// 32-bit IEEE float everywhere (no mixed precision).
    #[default]
    F32,
    /// bfloat16: `f32`'s exponent range with 8 significant bits. Needs no
    /// loss scaling.
    Bf16,
    /// IEEE half: 11 significant bits, largest finite 65504. Needs loss
    /// scaling (`dl_nn::train::amp::GradScaler`).
    F16,
}

impl Precision {
    /// Whether gradients need a loss scaler at this precision (only
    /// [`Precision::F16`]: bf16's exponent range is `f32`'s).
    pub fn needs_loss_scaling(self) -> bool {
        self == Precision::F16
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::Bf16 | Precision::F16 => 2,
        }
    }

    /// Whether this is a 16-bit format.
    pub fn is_low(self) -> bool {
        self != Precision::F32
    }

    /// Rounds every value of `v` to this precision (to nearest, ties to
    /// even; no change for [`Precision::F32`]), with the widest SIMD
    /// instructions the CPU has (the GEMM's path, [`default_path`], which
    /// `DL_GEMM_PATH` can force): the same bits on every path.
    pub fn round_slice(self, v: &mut [f32]) {
        round_slice_on(default_path(), self, v)
    }
}

/// [`Precision::round_slice`] compiled for `path` (an unavailable path
/// runs the portable loop); the tests force each path.
pub(crate) fn round_slice_on(path: GemmPath, p: Precision, v: &mut [f32]) {
    match path {
        #[cfg(target_arch = "x86_64")]
        GemmPath::Avx512 if path.available() => {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { round_avx512(p, v) }
        }
        #[cfg(target_arch = "x86_64")]
        GemmPath::Avx2 if path.available() => {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { round_avx2(p, v) }
        }
        _ => round_loop(p, v),
    }
}

/// The low precision that an `E` product runs in on this thread: the
/// autocast scope's when `E` is `f32` and the scope is bf16 or f16, else
/// `None` (plain arithmetic).
pub(crate) fn low_for<E: crate::Float>() -> Option<Precision> {
    let p = current();
    (p.is_low() && E::DTYPE == crate::DType::F32).then_some(p)
}

/// `v` as `f32`.
///
/// # Panics
/// If `E` is not `f32` (callers check with [`low_for`]).
pub(crate) fn as_f32<E: crate::Float>(v: &[E]) -> &[f32] {
    assert_eq!(E::DTYPE, crate::DType::F32);
    // SAFETY: `E` is `f32` (its dtype tag says so, and only `f32` has that
    // tag), so the pointer, length and alignment are those of `[f32]`.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<f32>(), v.len()) }
}

/// `v` as `f32`, mutably.
///
/// # Panics
/// If `E` is not `f32`.
pub(crate) fn as_f32_mut<E: crate::Float>(v: &mut [E]) -> &mut [f32] {
    assert_eq!(E::DTYPE, crate::DType::F32);
    // SAFETY: as in `as_f32`.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<f32>(), v.len()) }
}

/// `src` rounded to `p`, in one pass, into the front of `dst` (scratch
/// that only grows, so that a reused buffer is not zeroed again), returned.
pub(crate) fn rounded_into<'a>(p: Precision, src: &[f32], dst: &'a mut Vec<f32>) -> &'a [f32] {
    if dst.len() < src.len() {
        dst.resize(src.len(), 0.0);
    }
    let out = &mut dst[..src.len()];
    rounded_copy(p, src, out);
    out
}

/// `dst` = `src` rounded to `p` (the two of the same length), in one
/// pass (no copy first), on the same SIMD path as
/// [`Precision::round_slice`].
pub(crate) fn rounded_copy(p: Precision, src: &[f32], dst: &mut [f32]) {
    rounded_copy_on(default_path(), p, src, dst)
}

/// [`rounded_copy`] compiled for `path` (the tests force each).
fn rounded_copy_on(path: GemmPath, p: Precision, src: &[f32], dst: &mut [f32]) {
    assert_eq!(src.len(), dst.len(), "rounded_copy: lengths differ");
    match path {
        #[cfg(target_arch = "x86_64")]
        GemmPath::Avx512 if path.available() => {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { copy_avx512(p, src, dst) }
        }
        #[cfg(target_arch = "x86_64")]
        GemmPath::Avx2 if path.available() => {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            unsafe { copy_avx2(p, src, dst) }
        }
        _ => copy_loop(p, src, dst),
    }
}

/// The loop of [`rounded_copy`], inlined into each path's function.
#[inline(always)]
fn copy_loop(p: Precision, src: &[f32], dst: &mut [f32]) {
    let pairs = dst.iter_mut().zip(src);
    match p {
        Precision::F32 => pairs.for_each(|(d, s)| *d = *s),
        Precision::Bf16 => pairs.for_each(|(d, s)| *d = round_bf16_in_f32(*s)),
        Precision::F16 => pairs.for_each(|(d, s)| *d = round_f16_in_f32(*s)),
    }
}

/// [`copy_loop`] vectorized with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn copy_avx512(p: Precision, src: &[f32], dst: &mut [f32]) {
    copy_loop(p, src, dst)
}

/// [`copy_loop`] vectorized with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn copy_avx2(p: Precision, src: &[f32], dst: &mut [f32]) {
    copy_loop(p, src, dst)
}

/// The rounding loop, inlined into each path's function so that the
/// compiler vectorizes it for that path's instructions.
#[inline(always)]
fn round_loop(p: Precision, v: &mut [f32]) {
    match p {
        Precision::F32 => {}
        Precision::Bf16 => v.iter_mut().for_each(|x| *x = round_bf16_in_f32(*x)),
        Precision::F16 => v.iter_mut().for_each(|x| *x = round_f16_in_f32(*x)),
    }
}

/// [`round_loop`] vectorized with AVX-512F (16 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn round_avx512(p: Precision, v: &mut [f32]) {
    round_loop(p, v)
}

/// [`round_loop`] vectorized with AVX2 (8 lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn round_avx2(p: Precision, v: &mut [f32]) {
    round_loop(p, v)
}

/// `x` rounded to the nearest bf16 value (ties to even), in `f32`: the
/// low 16 bits rounded away (a carry moves into the exponent; past the
/// largest bf16 it reaches infinity), NaN kept. The same bits as
/// `dtype::half::round_bf16`, without its per-element branches.
#[inline(always)]
fn round_bf16_in_f32(x: f32) -> f32 {
    let b = x.to_bits();
    let r = f32::from_bits(b.wrapping_add(0x7FFF + ((b >> 16) & 1)) & 0xFFFF_0000);
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// `x` rounded to the nearest f16 value (ties to even), computed in `f32`
/// without leaving it: the same result as `half`'s conversion there and
/// back (`dtype::half::round_f16`, the reference of the test), several
/// times faster, which the f16 autocast's rounding passes need.
#[inline(always)]
fn round_f16_in_f32(x: f32) -> f32 {
    /// The smallest normal f16, 2^-14.
    const MIN_NORMAL: f32 = 6.103_515_6e-5;
    let b = x.to_bits();
    let sign = b & 0x8000_0000;
    let a = f32::from_bits(b & 0x7FFF_FFFF);
    // Normal f16 range: keep 10 of the 23 mantissa bits, to nearest, ties
    // to even (a carry moves into the exponent, as it should).
    let normal = f32::from_bits(b.wrapping_add(0xFFF + ((b >> 13) & 1)) & !0x1FFF);
    // f16 subnormals, multiples of 2^-24: the ulp of `0.5 + a` is 2^-24, so
    // the addition rounds `a` to one (ties to even), and the subtraction is
    // exact.
    let sub = f32::from_bits(((a + 0.5) - 0.5).to_bits() | sign);
    // Selects without branches on the value, so the loop vectorizes.
    let r = if a >= MIN_NORMAL { normal } else { sub };
    // At or past 65504 + half an ulp: infinity.
    let r = if a >= 65520.0 {
        f32::from_bits(sign | 0x7F80_0000)
    } else {
        r
    };
    if a.is_nan() {
        x
    } else {
        r
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    /// Parses `f32`, `bf16` or `f16` (case-insensitive), as a
    /// `--precision` flag takes them.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            _ => Err(Error::InvalidArgument {
                op: "precision",
                msg: format!("unknown precision {s:?} (expected f32, bf16 or f16)"),
            }),
        }
    }
}

thread_local! {
    static AUTOCAST: Cell<Precision> = const { Cell::new(Precision::F32) };
}

/// The precision of the calling thread's [`autocast`] scope
/// ([`Precision::F32`] outside any).
pub fn current() -> Precision {
    AUTOCAST.with(Cell::get)
}

/// Restores the previous precision when the scope ends (also on a panic).
struct Restore(Precision);

impl Drop for Restore {
    fn drop(&mut self) {
        AUTOCAST.with(|c| c.set(self.0));
    }
}

/// Runs `f` with the CPU backend's `f32` products in `precision` (see the
/// module docs); scopes nest, and the previous precision comes back when
/// `f` returns or panics. The setting belongs to the calling thread: run
/// the forward and backward passes inside `f`, on this thread (the
/// products' own worker threads follow it). Inside a rayon pool's job (a
/// worker thread), a product of another job that the worker runs while it
/// waits would see the setting too: keep unrelated training jobs off the
/// pool that runs an autocast scope.
///
/// # Errors
/// [`Error::Backend`] for a low precision on a backend other than the CPU
/// and CUDA: refused, not run in `f32`.
pub fn autocast<B: Backend, R>(dev: &B, precision: Precision, f: impl FnOnce() -> R) -> Result<R> {
    if precision.is_low() && !supports_autocast::<B>() {
        return Err(Error::Backend {
            device: dev.name(),
            msg: format!(
                "autocast to {precision} is not implemented on this backend (the CPU and CUDA backends have it)"
            ),
        });
    }
    let _restore = Restore(current());
    AUTOCAST.with(|c| c.set(precision));
    Ok(f())
}

/// Whether backend `B` honours autocast: the CPU (an emulation of the
/// numerics) and CUDA (tensor-core products, `ops/matmul/autocast.cu`).
fn supports_autocast<B: Backend>() -> bool {
    let t = std::any::TypeId::of::<B>();
    #[cfg(feature = "cuda")]
    if t == std::any::TypeId::of::<crate::Cuda>() {
        return true;
    }
    t == std::any::TypeId::of::<Cpu>()
}

/// Runs `f` in plain `f32` on this thread (the products of an autocast
/// product's own rounded operands).
pub(crate) fn suspended<R>(f: impl FnOnce() -> R) -> R {
    let _restore = Restore(current());
    AUTOCAST.with(|c| c.set(Precision::F32));
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore_on_panic() {
        assert_eq!(current(), Precision::F32);
        autocast(&Cpu, Precision::Bf16, || {
            assert_eq!(current(), Precision::Bf16);
            autocast(&Cpu, Precision::F16, || assert_eq!(current(), Precision::F16)).unwrap();
            assert_eq!(current(), Precision::Bf16);
            let r = std::panic::catch_unwind(|| autocast(&Cpu, Precision::F32, || panic!("inside")));
            assert!(r.is_err());
            assert_eq!(current(), Precision::Bf16);
        })
        .unwrap();
        assert_eq!(current(), Precision::F32);
        // Another thread has its own setting.
        autocast(&Cpu, Precision::Bf16, || {
            std::thread::spawn(|| assert_eq!(current(), Precision::F32))
                .join()
                .unwrap();
        })
        .unwrap();
    }

    #[test]
    fn the_fast_roundings_are_the_reference_ones() {
        use crate::dtype::half::{round_bf16, round_f16};
        let check = |x: f32| {
            for (fast, reference) in [
                (round_f16_in_f32 as fn(f32) -> f32, round_f16 as fn(f32) -> f32),
                (round_bf16_in_f32, round_bf16),
            ] {
                let (got, want) = (fast(x), reference(x));
                assert!(
                    got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                    "{x:e}: {got:e} against {want:e}"
                );
            }
        };
        // Every 997th bit pattern of all f32 (4.3 M values, both signs,
        // every exponent), then the f16 boundaries and their neighbours.
        for bits in (0..=u32::MAX).step_by(997) {
            check(f32::from_bits(bits));
        }
        for edge in [
            65504.0f32,
            65519.996,
            65520.0,
            6.103_515_6e-5,
            5.960_464_5e-8,
            2.980_232_2e-8,
            1.0,
            2048.0,
        ] {
            for d in -3i64..=3 {
                let b = (i64::from(edge.to_bits()) + d) as u32;
                check(f32::from_bits(b));
                check(-f32::from_bits(b));
            }
        }
    }

    /// Every SIMD path of `round_slice` and of the one-pass `rounded_copy`
    /// (each forced in turn; the ones this CPU lacks say so) gives the
    /// scalar function's bits on every 997th f32 bit pattern, in slices
    /// whose lengths leave remainders.
    #[test]
    fn every_rounding_path_gives_the_same_bits() {
        let patterns: Vec<f32> = (0..=u32::MAX).step_by(997).map(f32::from_bits).collect();
        for path in GemmPath::ALL {
            if !path.available() {
                println!("skipped: the {} path (not on this CPU)", path.name());
                continue;
            }
            for (p, scalar) in [
                (Precision::Bf16, round_bf16_in_f32 as fn(f32) -> f32),
                (Precision::F16, round_f16_in_f32),
            ] {
                // Chunks of 1 to 37 values: every remainder of 8 and 16 lanes.
                let mut v = patterns.clone();
                let mut at = 0;
                for len in (1..=37).cycle() {
                    if at >= v.len() {
                        break;
                    }
                    let end = (at + len).min(v.len());
                    round_slice_on(path, p, &mut v[at..end]);
                    at = end;
                }
                // The one-pass copy.
                let mut copied = vec![7.0f32; patterns.len()];
                rounded_copy_on(path, p, &patterns, &mut copied);
                for ((x, got), got_copy) in patterns.iter().zip(&v).zip(&copied) {
                    let want = scalar(*x);
                    for got in [got, got_copy] {
                        assert!(
                            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                            "{} {p}: {x:e}: {got:e} against {want:e}",
                            path.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn parses_and_rounds() {
        assert_eq!("BF16".parse::<Precision>().unwrap(), Precision::Bf16);
        assert_eq!("half".parse::<Precision>().unwrap(), Precision::F16);
        assert!("f8".parse::<Precision>().is_err());
        let mut v = vec![1.0 + 1.0 / 512.0, 70000.0, -0.0];
        Precision::F32.round_slice(&mut v);
        assert_eq!(v[0], 1.0 + 1.0 / 512.0);
        Precision::F16.round_slice(&mut v);
        assert_eq!(v[0], 1.0 + 1.0 / 512.0); // exact in f16 (11 bits)
        assert_eq!(v[1], f32::INFINITY);
        Precision::Bf16.round_slice(&mut v);
        assert_eq!(v[0], 1.0);
        assert!(v[2] == 0.0 && v[2].is_sign_negative());
    }
}
