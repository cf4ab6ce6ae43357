//! Row-major GEMM on cuBLAS (which is column-major), in one helper.

use crate::buf::FloatElem;
use crate::error::{CudaError, Result};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaView, CudaViewMut};

/// A batch of row-major products `C_i = alpha op(A_i) op(B_i) + beta C_i`,
/// `C_i` `m x n`, `op(A_i)` `m x k`, `op(B_i)` `k x n`, the `i`-th operand
/// at `i * stride` elements from the start of its view (stride 0 shares one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RowGemm<T> {
    /// Rows of `C`.
    pub m: usize,
    /// Columns of `C`.
    pub n: usize,
    /// Inner dimension.
    pub k: usize,
    /// `A` stored `k x m`.
    pub trans_a: bool,
    /// `B` stored `n x k`.
    pub trans_b: bool,
    /// Scale of the product.
    pub alpha: T,
    /// Scale of the old `C`.
    pub beta: T,
    /// Number of products (at least 1).
    pub count: usize,
    /// Elements between consecutive `A`s.
    pub stride_a: usize,
    /// Elements between consecutive `B`s.
    pub stride_b: usize,
    /// Elements between consecutive `C`s.
    pub stride_c: usize,
}

fn to_i32(v: usize, what: &str) -> Result<i32> {
    i32::try_from(v).map_err(|_| CudaError::InvalidArgument {
        op: "gemm",
        msg: format!("{what} = {v} exceeds i32::MAX (cuBLAS limit)"),
    })
}

/// Elements the batch addresses in an operand of `rows x cols` per product.
fn span(count: usize, stride: usize, rows: usize, cols: usize) -> usize {
    (count - 1) * stride + rows * cols
}

/// The cuBLAS column-major configuration of a row-major product.
///
/// Row-major `C = op(A) op(B)` is column-major `C^T = op(B)^T op(A)^T`, and
/// the column-major view of a row-major `r x c` matrix is its transpose with
/// leading dimension `c`. So cuBLAS gets `(m, n) = (n, m)`, `B` first with
/// `op = trans_b` and `ld = trans_b ? k : n`, then `A` with `op = trans_a`
/// and `ld = trans_a ? m : k`, and `ldc = n`.
pub fn column_major_config<T: Copy>(g: &RowGemm<T>) -> Result<StridedBatchedConfig<T>> {
    let op = |t: bool| {
        if t {
            cublasOperation_t::CUBLAS_OP_T
        } else {
            cublasOperation_t::CUBLAS_OP_N
        }
    };
    Ok(StridedBatchedConfig {
        gemm: GemmConfig {
            transa: op(g.trans_b),
            transb: op(g.trans_a),
            m: to_i32(g.n, "n")?,
            n: to_i32(g.m, "m")?,
            k: to_i32(g.k, "k")?,
            alpha: g.alpha,
            lda: to_i32(if g.trans_b { g.k } else { g.n }.max(1), "ldb")?,
            ldb: to_i32(if g.trans_a { g.m } else { g.k }.max(1), "lda")?,
            beta: g.beta,
            ldc: to_i32(g.n.max(1), "ldc")?,
        },
        batch_size: to_i32(g.count, "count")?,
        stride_a: g.stride_b as i64,
        stride_b: g.stride_a as i64,
        stride_c: g.stride_c as i64,
    })
}

/// The cuBLAS call of a row-major product: its configuration and the two
/// operands in cuBLAS's order (`B` first, then `A`; see
/// [`column_major_config`]). Generic over the operand type so that the
/// host-side tests check the very order [`gemm`] uses.
///
/// # Errors
/// As [`column_major_config`].
pub fn column_major_call<T: Copy, V>(g: &RowGemm<T>, a: V, b: V) -> Result<(StridedBatchedConfig<T>, V, V)> {
    Ok((column_major_config(g)?, b, a))
}

/// Runs a batch of row-major products on the device's cuBLAS handle.
/// Degenerate sizes (`m`, `n` or `count` zero) do nothing; `k = 0` scales `C`
/// by `beta` (cuBLAS semantics).
///
/// # Errors
/// [`CudaError::InvalidArgument`] when an operand does not fit its view or
/// a size exceeds `i32`; a cuBLAS error.
pub fn gemm<T: FloatElem>(
    dev: &crate::CudaDevice,
    g: &RowGemm<T>,
    a: &CudaView<'_, T>,
    b: &CudaView<'_, T>,
    c: &mut CudaViewMut<'_, T>,
) -> Result<()> {
    if g.m == 0 || g.n == 0 || g.count == 0 {
        return Ok(());
    }
    check_spans(g, a.len(), b.len(), c.len())?;
    let (cfg, first, second) = column_major_call(g, a, b)?;
    // SAFETY: the checks above put every matrix of the batch inside its
    // view: operand i spans [i * stride, i * stride + rows * cols), and the
    // leading dimensions of `column_major_config` equal the row lengths, so
    // cuBLAS reads and writes no element outside those spans. `c` is a
    // mutable view, so it aliases neither `a` nor `b`.
    unsafe { T::gemm_strided_batched(dev.blas(), cfg, first, second, c) }
}

/// The 16-bit operand format of a mixed-precision product ([`gemm_low`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LowType {
    /// bfloat16 (`CUDA_R_16BF`).
    Bf16,
    /// IEEE half (`CUDA_R_16F`).
    F16,
}

impl LowType {
    fn cuda_type(self) -> cudarc::cublas::sys::cudaDataType {
        match self {
            LowType::Bf16 => cudarc::cublas::sys::cudaDataType::CUDA_R_16BF,
            LowType::F16 => cudarc::cublas::sys::cudaDataType::CUDA_R_16F,
        }
    }
}

/// Checks that every matrix of the batch lies inside its view.
fn check_spans<T>(g: &RowGemm<T>, a: usize, b: usize, c: usize) -> Result<()> {
    let need = [
        ("A", span(g.count, g.stride_a, g.m, g.k), a),
        ("B", span(g.count, g.stride_b, g.k, g.n), b),
        ("C", span(g.count, g.stride_c, g.m, g.n), c),
    ];
    for (what, need, have) in need {
        if have < need {
            return Err(CudaError::InvalidArgument {
                op: "gemm",
                msg: format!("{what} has {have} elements, the batch needs {need}"),
            });
        }
    }
    Ok(())
}

/// A batch of row-major products (as [`gemm`]) whose `A` and `B` hold
/// 16-bit values (the bits of bf16 or f16, per `low`) and whose `C` is
/// `f32`, multiplied on the tensor cores with `f32` accumulation
/// (`cublasGemmStridedBatchedEx`, `CUBLAS_COMPUTE_32F`): the product of a
/// mixed-precision (autocast) step. `alpha` and `beta` are `f32`.
///
/// # Errors
/// As [`gemm`].
pub fn gemm_low(
    dev: &crate::CudaDevice,
    low: LowType,
    g: &RowGemm<f32>,
    a: &CudaView<'_, u16>,
    b: &CudaView<'_, u16>,
    c: &mut CudaViewMut<'_, f32>,
) -> Result<()> {
    use cudarc::driver::{DevicePtr, DevicePtrMut};
    if g.m == 0 || g.n == 0 || g.count == 0 {
        return Ok(());
    }
    check_spans(g, a.len(), b.len(), c.len())?;
    let (cfg, first, second) = column_major_call(g, a, b)?;
    let stream = dev.stream();
    let (p1, _r1) = first.device_ptr(stream);
    let (p2, _r2) = second.device_ptr(stream);
    let (pc, _rc) = c.device_ptr_mut(stream);
    let (alpha, beta) = (cfg.gemm.alpha, cfg.gemm.beta);
    let t = low.cuda_type();
    // SAFETY: `check_spans` put every matrix of the batch inside its view,
    // and the leading dimensions of `column_major_config` equal the row
    // lengths, so cuBLAS reads and writes no element outside them; the
    // handle runs on the device's stream, which the pointer records order
    // against; `alpha`/`beta` are f32, as CUBLAS_COMPUTE_32F reads them,
    // and outlive the (host-side) call.
    unsafe {
        cudarc::cublas::result::gemm_strided_batched_ex(
            *dev.blas().handle(),
            cfg.gemm.transa,
            cfg.gemm.transb,
            cfg.gemm.m,
            cfg.gemm.n,
            cfg.gemm.k,
            (&alpha) as *const f32 as *const _,
            p1 as *const _,
            t,
            cfg.gemm.lda,
            cfg.stride_a,
            p2 as *const _,
            t,
            cfg.gemm.ldb,
            cfg.stride_b,
            (&beta) as *const f32 as *const _,
            pc as *mut _,
            cudarc::cublas::sys::cudaDataType::CUDA_R_32F,
            cfg.gemm.ldc,
            cfg.stride_c,
            cfg.batch_size,
            cudarc::cublas::sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cudarc::cublas::sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
    }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(trans_a: bool, trans_b: bool) -> RowGemm<f32> {
        RowGemm {
            m: 2,
            n: 3,
            k: 4,
            trans_a,
            trans_b,
            alpha: 1.0,
            beta: 0.0,
            count: 5,
            stride_a: 8,
            stride_b: 12,
            stride_c: 6,
        }
    }

    /// The column-major configuration of each transpose combination.
    #[test]
    fn column_major_mapping_for_all_transposes() {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let c = column_major_config(&g(ta, tb)).unwrap();
            assert_eq!((c.gemm.m, c.gemm.n, c.gemm.k), (3, 2, 4));
            assert_eq!(c.gemm.lda, if tb { 4 } else { 3 });
            assert_eq!(c.gemm.ldb, if ta { 2 } else { 4 });
            assert_eq!(c.gemm.ldc, 3);
            assert_eq!(c.gemm.transa == cublasOperation_t::CUBLAS_OP_T, tb);
            assert_eq!(c.gemm.transb == cublasOperation_t::CUBLAS_OP_T, ta);
            assert_eq!((c.stride_a, c.stride_b, c.stride_c, c.batch_size), (12, 8, 6, 5));
        }
    }

    #[test]
    fn oversized_dimensions_are_errors() {
        let mut big = g(false, false);
        big.m = usize::MAX / 2;
        assert!(matches!(
            column_major_config(&big),
            Err(CudaError::InvalidArgument { .. })
        ));
    }
}

#[cfg(test)]
mod mapping_tests {
    use super::*;

    /// cuBLAS `gemmStridedBatched` semantics on host slices (column-major).
    fn col_major_gemm(cfg: &StridedBatchedConfig<f64>, a: &[f64], b: &[f64], c: &mut [f64]) {
        let g = &cfg.gemm;
        let (m, n, k) = (g.m as usize, g.n as usize, g.k as usize);
        let ta = g.transa == cublasOperation_t::CUBLAS_OP_T;
        let tb = g.transb == cublasOperation_t::CUBLAS_OP_T;
        // cuBLAS's argument rules (it returns CUBLAS_STATUS_INVALID_VALUE otherwise).
        assert!(
            g.lda as usize >= (if ta { k } else { m }).max(1),
            "lda {} too small",
            g.lda
        );
        assert!(
            g.ldb as usize >= (if tb { n } else { k }).max(1),
            "ldb {} too small",
            g.ldb
        );
        assert!(g.ldc as usize >= m.max(1), "ldc {} too small", g.ldc);
        for p in 0..cfg.batch_size as usize {
            let (a, b) = (&a[p * cfg.stride_a as usize..], &b[p * cfg.stride_b as usize..]);
            let c = &mut c[p * cfg.stride_c as usize..];
            for j in 0..n {
                for i in 0..m {
                    let mut s = 0.0;
                    for l in 0..k {
                        let av = if ta {
                            a[l + i * g.lda as usize]
                        } else {
                            a[i + l * g.lda as usize]
                        };
                        let bv = if tb {
                            b[j + l * g.ldb as usize]
                        } else {
                            b[l + j * g.ldb as usize]
                        };
                        s += av * bv;
                    }
                    let ci = &mut c[i + j * g.ldc as usize];
                    *ci = g.alpha * s + g.beta * *ci;
                }
            }
        }
    }

    /// The cuBLAS call (configuration and operand order), run with cuBLAS's
    /// semantics on the host, computes the row-major product for every
    /// transpose combination. (The operand order was once wrong: A went
    /// first, and every product on a GPU was garbage.)
    #[test]
    fn column_major_config_computes_the_row_major_product() {
        let count = 2usize;
        let val = |i: usize, s: u64| ((i as u64 * 2654435761 + s * 97) % 17) as f64 - 8.0;
        // (1, 1, 9): a dot product, as the training guard's gradient sum runs.
        for ((m, n, k), (ta, tb)) in [(3usize, 5usize, 4usize), (1, 1, 9)]
            .into_iter()
            .flat_map(|s| [(false, false), (true, false), (false, true), (true, true)].map(|t| (s, t)))
        {
            let g = RowGemm {
                m,
                n,
                k,
                trans_a: ta,
                trans_b: tb,
                alpha: 0.5,
                beta: 0.0,
                count,
                stride_a: m * k,
                stride_b: k * n,
                stride_c: m * n,
            };
            let a: Vec<f64> = (0..count * m * k).map(|i| val(i, 1)).collect();
            let b: Vec<f64> = (0..count * k * n).map(|i| val(i, 2)).collect();
            let mut c = vec![0.0; count * m * n];
            let (cfg, first, second) = column_major_call(&g, &a[..], &b[..]).unwrap();
            col_major_gemm(&cfg, first, second, &mut c);
            for p in 0..count {
                for i in 0..m {
                    for j in 0..n {
                        let mut s = 0.0;
                        for l in 0..k {
                            let av = if ta {
                                a[p * m * k + l * m + i]
                            } else {
                                a[p * m * k + i * k + l]
                            };
                            let bv = if tb {
                                b[p * k * n + j * k + l]
                            } else {
                                b[p * k * n + l * n + j]
                            };
                            s += av * bv;
                        }
                        assert_eq!(c[p * m * n + i * n + j], 0.5 * s, "ta={ta} tb={tb} p={p} ({i},{j})");
                    }
                }
            }
        }
    }
}
