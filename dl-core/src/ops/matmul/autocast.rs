//! The CPU products of an [`autocast`](crate::amp::autocast) scope: `f32`
//! products computed as a bf16/f16 tensor-core product with `f32`
//! accumulation would compute them (see [`crate::amp`]).

use super::cpu_kernel::{gemm_batched_fused, Epilogue};
use super::{Batch, Gemm, GemmWorkspace};
use crate::amp::Precision;
use crate::dtype::Float;
use std::cell::Cell;

thread_local! {
    /// Rounded copies of A, B and the bias, and the rounded product of an
    /// accumulating GEMM: grown once per thread, then reused.
    static SCRATCH: Cell<[Vec<f32>; 4]> = const { Cell::new([Vec::new(), Vec::new(), Vec::new(), Vec::new()]) };
}

/// [`gemm_batched_fused`] in precision `p` (bf16 or f16) on `f32` data:
/// A, B and the bias rounded to `p`, the product summed in `f32`, the
/// result (after the bias and activation) rounded to `p`; with `beta != 0`,
/// `C = beta C + round(product)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_low<E: Float>(
    p: Precision,
    ws: &mut GemmWorkspace,
    g: Gemm<E>,
    bt: Batch,
    a: &[E],
    b: &[E],
    c: &mut [E],
    ep: Epilogue<'_, E>,
) {
    let [mut ar, mut br, mut biasr, mut tmp] = SCRATCH.with(Cell::take);
    let a_low = crate::amp::rounded_into(p, crate::amp::as_f32(a), &mut ar);
    let b_low = crate::amp::rounded_into(p, crate::amp::as_f32(b), &mut br);
    let bias = ep
        .bias
        .map(|(v, axis)| (crate::amp::rounded_into(p, crate::amp::as_f32(v), &mut biasr), axis));
    let g32 = Gemm {
        beta: 0.0,
        ..g.to_f32()
    };
    let ep32 = Epilogue { bias, act: ep.act };
    let c32 = crate::amp::as_f32_mut(c);
    let size = g.m * g.n;
    // The inner product runs in plain f32 on the rounded data.
    crate::amp::suspended(|| {
        if g.beta == E::ZERO {
            gemm_batched_fused(ws, g32, bt, a_low, b_low, c32, ep32);
            for i in 0..bt.count {
                let at = bt.c_offset + i * bt.c_stride;
                p.round_slice(&mut c32[at..at + size]);
            }
        } else {
            // Only grows (the product, beta 0, overwrites what it uses), so
            // a reused buffer is not zeroed again.
            if tmp.len() < bt.count * size {
                tmp.resize(bt.count * size, 0.0);
            }
            let tmp = &mut tmp[..bt.count * size];
            let packed = Batch {
                c_offset: 0,
                c_stride: size,
                ..bt
            };
            gemm_batched_fused(ws, g32, packed, a_low, b_low, tmp, ep32);
            p.round_slice(tmp);
            let beta = g.beta.to_f64() as f32;
            for (i, prod) in tmp.chunks_exact(size.max(1)).enumerate().take(bt.count) {
                let at = bt.c_offset + i * bt.c_stride;
                for (cv, pv) in c32[at..at + size].iter_mut().zip(prod) {
                    *cv = beta * *cv + pv;
                }
            }
        }
    });
    SCRATCH.with(|s| s.set([ar, br, biasr, tmp]));
}

#[cfg(test)]
mod tests {
    use crate::amp::{autocast, Precision};
    use crate::ops::matmul::{Batch, BiasAxis, Gemm, GemmBiasKernel, GemmKernel};
    use crate::{Cpu, Rng};

    fn data(rng: &mut Rng, n: usize, scale: f64) -> Vec<f32> {
        (0..n).map(|_| (rng.normal() * scale) as f32).collect()
    }

    fn rounded(p: Precision, v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        p.round_slice(&mut v);
        v
    }

    /// In a scope, every product equals the plain product of the rounded
    /// operands, rounded; the check is not vacuous (the plain product of
    /// the unrounded operands differs).
    #[test]
    fn products_are_those_of_rounded_operands_rounded_once() {
        let mut rng = Rng::new(5);
        for p in [Precision::Bf16, Precision::F16] {
            for (m, n, k) in [(1, 10, 33), (3, 7, 64), (37, 29, 100), (64, 65, 300)] {
                for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                    let g = Gemm::new(m, n, k, ta, tb);
                    let (a, b) = (data(&mut rng, m * k, 1.0), data(&mut rng, k * n, 1.0));
                    let mut got = vec![0.0f32; m * n];
                    autocast(&Cpu, p, || Cpu.gemm(g, &a, &b, &mut got)).unwrap();
                    let mut want = vec![0.0f32; m * n];
                    Cpu.gemm(g, &rounded(p, &a), &rounded(p, &b), &mut want);
                    p.round_slice(&mut want);
                    assert_eq!(got, want, "{p} {m}x{n}x{k} {ta} {tb}");
                    let mut plain = vec![0.0f32; m * n];
                    Cpu.gemm(g, &a, &b, &mut plain);
                    assert_ne!(got, plain, "{p} {m}x{n}x{k}: rounding changed nothing");
                }
            }
        }
    }

    #[test]
    fn accumulation_adds_the_rounded_product_to_f32() {
        let mut rng = Rng::new(6);
        let (m, n, k) = (16, 24, 50);
        let g = Gemm::new(m, n, k, true, false).accumulate();
        let (a, b, c0) = (
            data(&mut rng, m * k, 1.0),
            data(&mut rng, k * n, 1.0),
            data(&mut rng, m * n, 1.0),
        );
        let mut got = c0.clone();
        autocast(&Cpu, Precision::Bf16, || Cpu.gemm(g, &a, &b, &mut got)).unwrap();
        let mut prod = vec![0.0f32; m * n];
        let p = Precision::Bf16;
        Cpu.gemm(
            Gemm::new(m, n, k, true, false),
            &rounded(p, &a),
            &rounded(p, &b),
            &mut prod,
        );
        p.round_slice(&mut prod);
        let want: Vec<f32> = c0.iter().zip(&prod).map(|(c, d)| c + d).collect();
        assert_eq!(got, want);
        // The f32 master values keep their low bits.
        assert!(got.iter().any(|&v| crate::dtype::half::round_bf16(v) != v));
    }

    #[test]
    fn a_fused_bias_and_a_batch_with_gaps() {
        let mut rng = Rng::new(7);
        let p = Precision::Bf16;
        let (m, n, k) = (5, 12, 40);
        let g = Gemm::new(m, n, k, false, true);
        let (a, b, bias) = (
            data(&mut rng, m * k, 1.0),
            data(&mut rng, n * k, 1.0),
            data(&mut rng, n, 1.0),
        );
        let mut got = vec![0.0f32; m * n];
        autocast(&Cpu, p, || Cpu.gemm_bias(g, &a, &b, &bias, BiasAxis::Columns, &mut got)).unwrap();
        let mut want = vec![0.0f32; m * n];
        Cpu.gemm_bias(
            g,
            &rounded(p, &a),
            &rounded(p, &b),
            &rounded(p, &bias),
            BiasAxis::Columns,
            &mut want,
        );
        p.round_slice(&mut want);
        assert_eq!(got, want);
        // Three products, C strided with gaps that must stay untouched.
        let bt = Batch {
            count: 3,
            a_offset: 0,
            a_stride: m * k,
            b_offset: 0,
            b_stride: 0,
            c_offset: 2,
            c_stride: m * n + 3,
        };
        let a3 = data(&mut rng, 3 * m * k, 1.0);
        let mut got = vec![7.125f32 + 1.0 / 1024.0; 2 + 3 * (m * n + 3)];
        let mut want = got.clone();
        autocast(&Cpu, p, || Cpu.gemm_batched(g, bt, &a3, &b, &mut got)).unwrap();
        Cpu.gemm_batched(g, bt, &rounded(p, &a3), &rounded(p, &b), &mut want);
        for i in 0..3 {
            let at = 2 + i * (m * n + 3);
            p.round_slice(&mut want[at..at + m * n]);
        }
        assert_eq!(got, want);
        assert_eq!(got[0], 7.125 + 1.0 / 1024.0, "a gap was rounded");
    }

    #[test]
    fn f16_products_overflow_to_infinity() {
        let (a, b) = (vec![300.0f32; 4], vec![100.0f32; 4]);
        let mut c = vec![0.0f32];
        autocast(&Cpu, Precision::F16, || {
            Cpu.gemm(Gemm::new(1, 1, 4, false, false), &a, &b, &mut c)
        })
        .unwrap();
        assert_eq!(c, vec![f32::INFINITY]); // 120000 > 65504
                                            // f64 products are not autocast (as in PyTorch).
        let (a, b) = (vec![1.0f64 + 1e-9], vec![1.0f64]);
        let mut c = vec![0.0f64];
        autocast(&Cpu, Precision::Bf16, || {
            Cpu.gemm(Gemm::new(1, 1, 1, false, false), &a, &b, &mut c)
        })
        .unwrap();
        assert_eq!(c, vec![1.0 + 1e-9]);
    }

    /// The CUDA roundings (`autocast.cu`, device code that only a GPU
    /// runs) compiled for the host with a C++ compiler and a few lines of
    /// shims for the CUDA intrinsics, then compared bit for bit with the
    /// `half` crate's conversions (through `dtype::half`): 2^32 / 8191
    /// patterns spread over all floats, and every tie of bf16 and of f16
    /// (the low 16 bits 0x8000, the low 13 bits 0x1000). Skipped, with the
    /// reason, where no C++ compiler is installed.
    #[test]
    fn cuda_roundings_match_half_on_the_host() {
        use crate::dtype::half::{f32_to_bf16, f32_to_f16, round_bf16, round_f16};
        use std::process::Command;
        let dir = std::env::temp_dir().join(format!("dl-autocast-cu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shims = r#"
#include <cstdio>
#include <cstring>
#include <cmath>
typedef unsigned long long u64;
typedef unsigned int u32;
#define __device__
#define __forceinline__ inline
#define __global__
#define GRID_STRIDE(i, n) for (u64 i = 0; i < (u64)(n); i++)
static inline u32 __float_as_uint(float f) { u32 u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(u32 u) { float f; memcpy(&f, &u, 4); return f; }
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
"#;
        let main = r#"
static void emit(u32 u) {
    float x = __uint_as_float(u);
    u32 r[5] = {u, __float_as_uint(amp_round_bf16(x)), __float_as_uint(amp_round_f16(x)), amp_bf16_bits(x), amp_f16_bits(x)};
    fwrite(r, 4, 5, stdout);
}
int main() {
    for (u64 b = 0; b < (1ull << 32); b += 8191) emit((u32)b);
    for (u64 h = 0; h < (1ull << 19); h++) { emit((u32)((h << 13) | 0x1000u)); }
    for (u64 h = 0; h < (1ull << 16); h++) { emit((u32)((h << 16) | 0x8000u)); }
    return 0;
}
"#;
        // `extern "C"` becomes `"C"` after the shim's `#define extern`: drop it.
        let kernels = include_str!("autocast.cu").replace("extern \"C\" ", "");
        let src = dir.join("autocast_host.cpp");
        std::fs::write(&src, format!("{shims}\n{kernels}\n{main}")).unwrap();
        let exe = dir.join("autocast_host");
        // The first C++ compiler found (CI's MPI step installs clang).
        let built = ["c++", "g++", "clang++"].into_iter().find_map(|cxx| {
            Command::new(cxx)
                .args(["-O1", "-ffp-contract=off", "-o"])
                .arg(&exe)
                .arg(&src)
                .output()
                .ok()
        });
        let Some(built) = built else {
            std::fs::remove_dir_all(&dir).ok();
            println!("skipped: no C++ compiler (c++, g++ or clang++) to build autocast.cu for the host");
            return;
        };
        assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
        let out = Command::new(&exe).output().unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert!(out.status.success());
        let mut n = 0usize;
        for r in out.stdout.chunks_exact(20) {
            let v: Vec<u32> = r
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let x = f32::from_bits(v[0]);
            n += 1;
            if x.is_nan() {
                let sign = v[0] >> 31;
                assert!(
                    f32::from_bits(v[1]).is_nan() && f32::from_bits(v[2]).is_nan(),
                    "{:08x}",
                    v[0]
                );
                // Quiet NaNs of the same sign (a NaN whose payload is only in
                // the low bits must not become an infinity).
                assert!(
                    v[3] & 0x7FC0 == 0x7FC0 && v[3] >> 15 == sign,
                    "bf16 of {:08x}: {:04x}",
                    v[0],
                    v[3]
                );
                assert!(
                    v[4] & 0x7E00 == 0x7E00 && v[4] >> 15 == sign,
                    "f16 of {:08x}: {:04x}",
                    v[0],
                    v[4]
                );
            } else {
                let want = [
                    round_bf16(x).to_bits(),
                    round_f16(x).to_bits(),
                    f32_to_bf16(x) as u32,
                    f32_to_f16(x) as u32,
                ];
                assert_eq!([v[1], v[2], v[3], v[4]], want, "x = {x:e} ({:08x})", v[0]);
            }
        }
        assert_eq!(n, (1usize << 32).div_ceil(8191) + (1 << 19) + (1 << 16));
    }
}
