//! Integer matrix products: `u8 x i8 -> i32` with a fused requantising
//! epilogue, for quantized inference.
//!
//! `C[m, n] = A[m, k] * B[k, n]` where `A` holds activations as **unsigned**
//! 8-bit integers (asymmetric, with a zero point) and `B` holds weights as
//! **signed** 8-bit integers (symmetric, zero point 0). This is the operand
//! pair of the x86 `vpdpbusd` instruction (AVX-512 VNNI and AVX-VNNI:
//! unsigned bytes times signed bytes, four products summed into an `i32`
//! lane without intermediate saturation), so the fast paths need no
//! conversion of either operand.
//!
//! ## Paths
//!
//! | [`QgemmPath`] | instructions | per 4 `k` steps |
//! |---|---|---|
//! | `Avx512Vnni` | `vpdpbusd zmm` | 16 columns x up to 6 rows x up to 4 panels |
//! | `AvxVnni` | `vpdpbusd ymm` (VEX) | 8 columns per instruction, up to 6 rows |
//! | `Avx2` | `vpmovsxbw` + `vpmaddwd` + `vpaddd` | exact: both operands widened to `i16` |
//! | `Portable` | scalar `i32` | any CPU |
//!
//! The AVX2 path deliberately does **not** use `vpmaddubsw`: it adds two
//! `u8 x i8` products into a *saturating* `i16`, and `255 * 127 * 2 = 64770`
//! does not fit, so results would depend on the data (PyTorch's fbgemm
//! works around it with 7-bit activations, `reduce_range`). Widening both
//! operands to `i16` and using `vpmaddwd` (`i16 x i16` pairs into `i32`)
//! is exact for every input, so every path returns bit-identical results.
//!
//! The path is chosen at run time ([`QgemmPath::detect`], with
//! `is_x86_feature_detected!`); the environment variable `DL_QGEMM_PATH`
//! (`avx512vnni`, `avxvnni`, `avx2`, `portable`) forces one for the whole
//! process ([`QgemmPath::selected`]), and every function takes the path as
//! a parameter so tests run each in turn.
//!
//! ## Packed weights
//!
//! [`PackedB::pack`] takes the weights as stored by a layer (`[n, k]`,
//! one row per output channel) once, at quantization time: `k` is padded to
//! a multiple of 4 and `n` to a multiple of 16, and each panel of 16
//! columns is laid out as `k/4` blocks of 64 bytes (`[column][4 k]`), which
//! is exactly one `zmm` operand of `vpdpbusd`. The column sums needed for
//! the activation zero point are computed at the same time.
//!
//! ## Epilogue
//!
//! [`qgemm`] applies, per output element `(i, j)`, with
//! `acc = sum_k a[i, k] b[k, j]` (exact, `i32`) and
//! `c = (acc - a_zero_point * colsum[j])` (exact: the integer dot product
//! of the zero-point-corrected activations with the weights):
//!
//! * [`QOut::F32`]: `y = c as f32 * (a_scale * w_scales[j]) + bias[j]`
//!   (`+ 0.0` without a bias), then `max(y, 0)` when `relu`;
//! * [`QOut::U8`] / [`QOut::I8`] with `(scale, zero_point)`: the same in
//!   output steps, `t = c as f32 * (a_scale * w_scales[j] * (1 / scale)) +
//!   bias[j] * (1 / scale)`, clamped to the byte range minus the zero point
//!   (and to `>= 0` when `relu`), rounded half to even, plus `zero_point`.
//!
//! Folding `1 / scale` into the per-column constants saves a multiply per
//! element; all paths use the same constants, so they agree bit for bit.
//!
//! Work is split over fixed tiles of 48 rows by 64 columns, run with rayon
//! when the product is large enough; the results do not depend on the
//! number of threads (integer sums are exact and the epilogue is per
//! element).
//!
//! ```
//! use dl_core::ops::qgemm::{qgemm_i32, PackedB, QgemmPath};
//! // A = [[1, 2, 3]], B^T = [[1, 0, -1], [2, 2, 2]]  (n = 2, k = 3)
//! let w: [i8; 6] = [1, 0, -1, 2, 2, 2];
//! let b = PackedB::pack(&w, 2, 3);
//! let a = [1u8, 2, 3, 0]; // rows padded to k_padded() = 4 (padding is ignored)
//! let mut c = [0i32; 2];
//! qgemm_i32(QgemmPath::selected(), 1, &a, 4, &b, &mut c, 2);
//! assert_eq!(c, [-2, 12]);
//! ```

mod avx2;
mod avx512_vnni;
mod avx_vnni;
mod cpu_kernel;
mod epilogue;
mod portable;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

pub use cpu_kernel::{qgemm, qgemm_i32};

/// Columns per packed panel.
pub const PANEL: usize = 16;

/// Largest `k` for which the `i32` accumulator cannot overflow
/// (`k * 255 * 128 < 2^31`).
pub const MAX_K: usize = 65_793;

/// `k` rounded up to a multiple of 4: the row length (at least) of `A`.
pub fn padded_k(k: usize) -> usize {
    k.div_ceil(4) * 4
}

/// An integer GEMM implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QgemmPath {
    /// AVX-512 F/BW + VNNI (`vpdpbusd` on 512-bit registers).
    Avx512Vnni,
    /// AVX-VNNI (`vpdpbusd` on 256-bit registers, VEX encoded).
    AvxVnni,
    /// AVX2 (`vpmaddwd` on widened operands; exact).
    Avx2,
    /// Plain Rust, any CPU.
    Portable,
}

impl QgemmPath {
    /// Every path, fastest first.
    pub const ALL: [QgemmPath; 4] = [Self::Avx512Vnni, Self::AvxVnni, Self::Avx2, Self::Portable];

    /// Whether this CPU runs the path.
    pub fn is_available(self) -> bool {
        match self {
            Self::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Vnni => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Self::AvxVnni => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("avxvnni"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The fastest path this CPU runs.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|p| p.is_available())
            .unwrap_or(Self::Portable)
    }

    /// The paths this CPU runs, fastest first.
    pub fn available() -> Vec<Self> {
        Self::ALL.into_iter().filter(|p| p.is_available()).collect()
    }

    /// The path named by `DL_QGEMM_PATH` if it is set, valid and available
    /// (otherwise a warning on stderr and [`QgemmPath::detect`]); read once
    /// per process.
    pub fn selected() -> Self {
        static SELECTED: OnceLock<QgemmPath> = OnceLock::new();
        *SELECTED.get_or_init(|| match std::env::var("DL_QGEMM_PATH") {
            Ok(name) if !name.is_empty() => match Self::from_name(&name) {
                Some(p) if p.is_available() => p,
                Some(p) => {
                    eprintln!(
                        "DL_QGEMM_PATH={name}: {} is not available on this CPU; using {}",
                        p.name(),
                        Self::detect().name()
                    );
                    Self::detect()
                }
                None => {
                    eprintln!(
                        "DL_QGEMM_PATH={name}: unknown path (avx512vnni, avxvnni, avx2, portable); using {}",
                        Self::detect().name()
                    );
                    Self::detect()
                }
            },
            _ => Self::detect(),
        })
    }

    /// The path's name as `DL_QGEMM_PATH` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "avx512vnni",
            Self::AvxVnni => "avxvnni",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }

    /// The path named `name` (as [`QgemmPath::name`] spells it, case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for QgemmPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Signed 8-bit weights `[n, k]` packed for [`qgemm`] (see the module
/// documentation for the layout), with their column sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedB {
    n: usize,
    k: usize,
    data: Vec<i8>,
    col_sums: Vec<i32>,
}

impl PackedB {
    /// Packs `w` (`[n, k]` row-major: one row of `k` weights per output
    /// column, as a `Linear` weight is stored).
    ///
    /// # Panics
    /// If `w.len() != n * k` or `k > MAX_K` (internal invariants: callers
    /// check user input before).
    pub fn pack(w: &[i8], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "PackedB::pack: {} weights for [{n}, {k}]", w.len());
        assert!(k <= MAX_K, "PackedB::pack: k = {k} exceeds {MAX_K}");
        let k4 = padded_k(k) / 4;
        let panels = n.div_ceil(PANEL);
        let mut data = vec![0i8; panels * k4 * 64];
        for j in 0..n {
            let (p, jj) = (j / PANEL, j % PANEL);
            for kk in 0..k {
                data[p * k4 * 64 + (kk / 4) * 64 + jj * 4 + kk % 4] = w[j * k + kk];
            }
        }
        let col_sums = (0..n)
            .map(|j| w[j * k..(j + 1) * k].iter().map(|&v| v as i32).sum())
            .collect();
        Self { n, k, data, col_sums }
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.k
    }
    /// `k` padded to a multiple of 4.
    pub fn k_padded(&self) -> usize {
        padded_k(self.k)
    }
    /// Per-column sums of the weights.
    pub fn col_sums(&self) -> &[i32] {
        &self.col_sums
    }
    /// The weights back as `[n, k]`.
    pub fn unpack(&self) -> Vec<i8> {
        let k4 = self.k_padded() / 4;
        let mut w = vec![0i8; self.n * self.k];
        for j in 0..self.n {
            for kk in 0..self.k {
                w[j * self.k + kk] = self.data[(j / PANEL) * k4 * 64 + (kk / 4) * 64 + (j % PANEL) * 4 + kk % 4];
            }
        }
        w
    }
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }
    pub(crate) fn panel_stride(&self) -> usize {
        self.k_padded() / 4 * 64
    }
    pub(crate) fn data(&self) -> &[i8] {
        &self.data
    }
}

/// Where [`qgemm`] writes, with its row stride `ldo` given separately.
#[derive(Debug)]
pub enum QOut<'a> {
    /// Dequantized `f32`.
    F32(&'a mut [f32]),
    /// Requantized unsigned bytes: `clamp(round(y / scale) + zero_point, 0, 255)`.
    U8 {
        /// Output buffer.
        out: &'a mut [u8],
        /// Output scale.
        scale: f32,
        /// Output zero point.
        zero_point: i32,
    },
    /// Requantized signed bytes: `clamp(round(y / scale) + zero_point, -128, 127)`.
    I8 {
        /// Output buffer.
        out: &'a mut [i8],
        /// Output scale.
        scale: f32,
        /// Output zero point.
        zero_point: i32,
    },
}

/// Dequantization of the `i32` sums (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Zero point of `A` (its values are `(a - zero_point) * a_scale`).
    pub a_zero_point: i32,
    /// Scale of `A`.
    pub a_scale: f32,
    /// Per-column weight scales (`n` of them).
    pub w_scales: &'a [f32],
    /// Per-column bias added after scaling (`n` of them), if any.
    pub bias: Option<&'a [f32]>,
    /// Whether to apply `max(y, 0)`.
    pub relu: bool,
}

/// The plain integer reference: `c[i, j] = sum_k a[i, k] * w[j, k]` with
/// `w` as `[n, k]` (row stride `lda` for `a`, `n` for `c`). Used by the
/// tests of every path.
pub fn reference_i32(m: usize, n: usize, k: usize, a: &[u8], lda: usize, w: &[i8], c: &mut [i32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0i32;
            for kk in 0..k {
                s += a[i * lda + kk] as i32 * w[j * k + kk] as i32;
            }
            c[i * n + j] = s;
        }
    }
}
