//! Register-blocked micro-kernels of the CPU GEMM and the choice between them.
//!
//! A micro-kernel multiplies one packed `MR x kc` sliver of `op(A)` by one
//! packed `kc x NR` sliver of `op(B)` into an `MR x NR` tile of
//! accumulators held in registers, then writes the tile to `C` through the
//! epilogue ([`Epi`]): `x = alpha * acc`, then `x = C + x` (beta 1) or
//! `x = beta * C + x` (other non-zero beta; beta 0 does not read `C`), then
//! the bias of the row or column, then ReLU.
//!
//! Each element of the tile is one accumulator lane summed over `p = 0..kc`
//! in order, so its value does not depend on where the tile lies or which
//! thread runs it: the blocked driver's results are the same for any
//! number of threads.
//!
//! The paths: AVX-512F (x86-64), AVX2 with FMA (x86-64), and a portable
//! kernel in plain Rust that is correct on every target. [`GemmPath`]
//! names them; [`default_path`] picks the fastest the CPU has, unless the
//! environment variable `DL_GEMM_PATH` (`avx512`, `avx2` or `portable`,
//! read once) names another one the CPU has.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;

use super::pack::{pack_a, pack_b, PackFn};
use crate::dtype::Float;
use std::any::Any;
use std::sync::OnceLock;

/// A micro-kernel implementation of the CPU GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GemmPath {
    /// 512-bit AVX-512F kernels (x86-64 only): 12 x 32 tiles for `f32`,
    /// 12 x 16 for `f64`.
    Avx512,
    /// 256-bit AVX2 + FMA kernels (x86-64 only): 6 x 16 tiles for `f32`,
    /// 6 x 8 for `f64`.
    Avx2,
    /// Plain Rust, 4 x 8 tiles, any target and any [`Float`].
    Portable,
}

impl GemmPath {
    /// Every path, fastest first.
    pub const ALL: [GemmPath; 3] = [GemmPath::Avx512, GemmPath::Avx2, GemmPath::Portable];

    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            GemmPath::Portable => true,
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            GemmPath::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The name `DL_GEMM_PATH` uses.
    pub fn name(self) -> &'static str {
        match self {
            GemmPath::Avx512 => "avx512",
            GemmPath::Avx2 => "avx2",
            GemmPath::Portable => "portable",
        }
    }

    /// The path named `s` (`avx512`, `avx2`, `portable`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s.trim())
    }

    /// The fastest path this CPU has.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.available())
            .unwrap_or(GemmPath::Portable)
    }
}

/// The path the CPU GEMM uses: `DL_GEMM_PATH` when it names a path this
/// CPU has (read once, on the first product), else [`GemmPath::detect`].
/// An unknown or unavailable name is reported once on stderr and ignored.
///
/// ```
/// let p = dl_core::ops::matmul::default_path();
/// assert!(p.available());
/// ```
pub fn default_path() -> GemmPath {
    static PATH: OnceLock<GemmPath> = OnceLock::new();
    *PATH.get_or_init(|| match std::env::var("DL_GEMM_PATH") {
        Ok(s) => match GemmPath::parse(&s) {
            Some(p) if p.available() => p,
            _ => {
                eprintln!(
                    "dl: DL_GEMM_PATH={s:?} is not a path this CPU has (avx512, avx2, portable); using {}",
                    GemmPath::detect().name()
                );
                GemmPath::detect()
            }
        },
        Err(_) => GemmPath::detect(),
    })
}

/// What a micro-kernel does with its tile once the products are summed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Epi<E> {
    /// Scale of the products.
    pub alpha: E,
    /// Scale of the existing `C` (0: `C` is not read).
    pub beta: E,
    /// `MR` values added to the tile's rows, or null.
    pub bias_row: *const E,
    /// `NR` values added to the tile's columns, or null.
    pub bias_col: *const E,
    /// Apply ReLU (`x` if `x > 0` or NaN, else `+0`).
    pub relu: bool,
}

// SAFETY: the bias pointers are only read, from slices the caller borrows
// for the whole product.
unsafe impl<E: Sync> Send for Epi<E> {}
// SAFETY: as above.
unsafe impl<E: Sync> Sync for Epi<E> {}

/// A micro-kernel: `kc`, the packed A sliver (`kc` groups of `MR`), the
/// packed B sliver (`kc` groups of `NR`), the tile's first element and row
/// stride, and the epilogue.
///
/// # Safety
/// The CPU has the kernel's instruction set; `a` is valid for reads of
/// `kc * MR` elements and `b` of `kc * NR`; `c + i * ldc + j` is valid for
/// reads and writes for `i < MR`, `j < NR` and does not overlap `a`, `b` or
/// the biases; a non-null bias is valid for reads of `MR` (row) or `NR`
/// (column) elements.
pub(crate) type KernelFn<E> = unsafe fn(usize, *const E, *const E, *mut E, usize, Epi<E>);

/// A micro-kernel with its tile and blocking sizes.
#[derive(Clone, Copy)]
pub(crate) struct Kernel<E> {
    /// Rows of a tile.
    pub mr: usize,
    /// Columns of a tile.
    pub nr: usize,
    /// Depth of a packed block (the B sliver `kc x NR` stays in L1).
    pub kc: usize,
    /// Rows of a packed A block (in L2), a multiple of `mr`.
    pub mc: usize,
    /// Columns of a packed B panel (in L3), a multiple of `nr`.
    pub nc: usize,
    /// The kernel.
    pub f: KernelFn<E>,
    /// Packs one sliver of `op(A)` (`mr` rows).
    pub pack_a: PackFn<E>,
    /// Packs one sliver of `op(B)` (`nr` columns).
    pub pack_b: PackFn<E>,
}

impl<E: Float> Kernel<E> {
    /// A kernel of `MR x NR` tiles with the packing routines of that shape.
    pub(crate) const fn new<const MR: usize, const NR: usize>(f: KernelFn<E>, kc: usize, mc: usize, nc: usize) -> Self {
        Kernel {
            mr: MR,
            nr: NR,
            kc,
            mc,
            nc,
            f,
            pack_a: pack_a::<E, MR>,
            pack_b: pack_b::<E, NR>,
        }
    }
}

/// Largest `MR * NR` of any kernel (the edge tiles' scratch).
pub(crate) const MAX_TILE: usize = 12 * 32;
/// Largest `MR` or `NR` of any kernel.
pub(crate) const MAX_EDGE: usize = 32;

/// `k` as a `Kernel<E>` when `E` is `T` (then the two types are one).
fn cast<E: Float, T: 'static>(k: Kernel<T>) -> Option<Kernel<E>> {
    let (f, pa, pb): (&dyn Any, &dyn Any, &dyn Any) = (&k.f, &k.pack_a, &k.pack_b);
    Some(Kernel {
        mr: k.mr,
        nr: k.nr,
        kc: k.kc,
        mc: k.mc,
        nc: k.nc,
        f: *f.downcast_ref::<KernelFn<E>>()?,
        pack_a: *pa.downcast_ref::<PackFn<E>>()?,
        pack_b: *pb.downcast_ref::<PackFn<E>>()?,
    })
}

/// The kernel of `path` for `E` (the portable one for a path this CPU does
/// not have, or an element type other than `f32` and `f64`).
pub(crate) fn kernel<E: Float>(path: GemmPath) -> Kernel<E> {
    #[cfg(target_arch = "x86_64")]
    if path.available() {
        let k = match path {
            GemmPath::Avx512 => cast(avx512::F32).or_else(|| cast(avx512::F64)),
            GemmPath::Avx2 => cast(avx2::F32).or_else(|| cast(avx2::F64)),
            GemmPath::Portable => None,
        };
        if let Some(k) = k {
            return k;
        }
    }
    let _ = path;
    portable::kernel::<E>()
}

/// Defines an x86-64 SIMD micro-kernel (the same code for every vector
/// width and element type): `$nv` vectors of `$lanes` elements per row,
/// `$mr` rows.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_kernel {
    (
        $(#[$doc:meta])*
        $name:ident, $feat:literal, $t:ty, $lanes:expr, $mr:expr, $nv:expr,
        load = $load:ident, store = $store:ident, set1 = $set1:ident, zero = $zero:ident,
        fma = $fma:ident, mul = $mul:ident, add = $add:ident, cmp = $cmp:ident, sel = $sel:ident
    ) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// See [`crate::ops::matmul::kernel::KernelFn`]; the CPU has the
        /// target features enabled here.
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(
            kc: usize,
            a: *const $t,
            b: *const $t,
            c: *mut $t,
            ldc: usize,
            ep: crate::ops::matmul::kernel::Epi<$t>,
        ) {
            use std::arch::x86_64::*;
            const MR: usize = $mr;
            const NV: usize = $nv;
            const L: usize = $lanes;
            const NR: usize = NV * L;
            let mut acc = [[$zero(); NV]; MR];
            // Fetch the tile of C into L1 while the products run (its rows
            // are far apart and missed the cache in the epilogue otherwise).
            for i in 0..MR {
                let mut off = 0;
                while off < NR * std::mem::size_of::<$t>() {
                    // SAFETY: a prefetch never faults; the address is inside
                    // row i of the tile (the caller's contract).
                    unsafe { _mm_prefetch::<_MM_HINT_T0>(c.add(i * ldc).cast::<i8>().add(off)) };
                    off += 64;
                }
            }
            // SAFETY: by the caller's contract `a` holds kc * MR elements and
            // `b` kc * NR: iteration p reads a[p * MR + i] for i < MR and
            // b[p * NR .. p * NR + NR] (unaligned loads, no alignment needed).
            unsafe {
                let (mut ap, mut bp) = (a, b);
                for _ in 0..kc {
                    let mut bv = [$zero(); NV];
                    for (v, bvv) in bv.iter_mut().enumerate() {
                        *bvv = $load(bp.add(v * L));
                    }
                    for (i, row) in acc.iter_mut().enumerate() {
                        let av = $set1(*ap.add(i));
                        for (r, bvv) in row.iter_mut().zip(&bv) {
                            *r = $fma(av, *bvv, *r);
                        }
                    }
                    ap = ap.add(MR);
                    bp = bp.add(NR);
                }
            }
            let alpha = $set1(ep.alpha);
            let beta = $set1(ep.beta);
            let one = <$t>::from(1u8);
            let zero = <$t>::from(0u8);
            for (i, row) in acc.iter().enumerate() {
                // SAFETY: the caller guarantees c + i * ldc + j valid for
                // i < MR, j < NR, bias_col for NR reads and bias_row for MR.
                unsafe {
                    let ci = c.add(i * ldc);
                    let rb = if ep.bias_row.is_null() { None } else { Some($set1(*ep.bias_row.add(i))) };
                    for (v, r) in row.iter().enumerate() {
                        let mut x = $mul(*r, alpha);
                        if ep.beta == one {
                            x = $add($load(ci.add(v * L)), x);
                        } else if ep.beta != zero {
                            x = $fma(beta, $load(ci.add(v * L)), x);
                        }
                        if !ep.bias_col.is_null() {
                            x = $add(x, $load(ep.bias_col.add(v * L)));
                        }
                        if let Some(rb) = rb {
                            x = $add(x, rb);
                        }
                        if ep.relu {
                            // x where x > 0 or x is NaN (not-less-equal,
                            // unordered), +0 elsewhere: the ReLU op's rule.
                            x = $sel($cmp::<_CMP_NLE_UQ>(x, $zero()), x);
                        }
                        $store(ci.add(v * L), x);
                    }
                }
            }
        }
    };
}
#[cfg(target_arch = "x86_64")]
pub(crate) use simd_kernel;
