use super::*;
use crate::rng::Rng;

fn rand_u8(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| (rng.next_u64() % 256) as u8).collect()
}
fn rand_i8(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() % 256) as u8 as i8).collect()
}

/// `a` with rows padded to `lda` (padding filled with junk: it must not matter).
fn padded_rows(rng: &mut Rng, m: usize, k: usize, lda: usize) -> Vec<u8> {
    let mut a = rand_u8(rng, m * lda);
    // Keep the junk, but make sure extremes appear in the real part too.
    if m > 0 && k > 0 {
        a[0] = 255;
    }
    a
}

fn check_path(path: QgemmPath, m: usize, n: usize, k: usize, seed: u64) {
    let mut rng = Rng::new(seed);
    let lda = padded_k(k) + (seed as usize % 3) * 4;
    let a = padded_rows(&mut rng, m, k, lda);
    let mut w = rand_i8(&mut rng, n * k);
    if !w.is_empty() {
        w[0] = -128;
    }
    let b = PackedB::pack(&w, n, k);
    assert_eq!(b.unpack(), w);
    let mut want = vec![0i32; m * n];
    reference_i32(m, n, k, &a, lda, &w, &mut want);
    let ldc = n + 1;
    let mut got = vec![i32::MIN; m * ldc];
    qgemm_i32(path, m, &a, lda, &b, &mut got, ldc);
    for i in 0..m {
        assert_eq!(
            &got[i * ldc..i * ldc + n],
            &want[i * n..(i + 1) * n],
            "{path} m={m} n={n} k={k} row {i}"
        );
        if n < ldc {
            assert_eq!(got[i * ldc + n], i32::MIN, "{path}: wrote past n");
        }
    }
}

const EDGES: [usize; 11] = [1, 3, 4, 15, 16, 17, 63, 64, 65, 255, 1000];

#[test]
fn every_path_matches_the_integer_reference_on_edge_sizes() {
    for path in QgemmPath::available() {
        let mut seed = 1;
        for &m in &EDGES {
            for &n in &EDGES {
                for &k in &EDGES {
                    // Sample the large corner of the cube (it is slow in debug builds).
                    let big = [m, n, k].iter().filter(|&&d| d >= 255).count();
                    seed += 1;
                    if big >= 2 && seed % 7 != 0 || big == 3 {
                        continue;
                    }
                    check_path(path, m, n, k, seed);
                }
            }
        }
    }
}

#[test]
fn extremes_do_not_saturate() {
    // All 255 x -128 and 255 x 127: the sums a saturating u8 x i8 pair
    // instruction (vpmaddubsw) would get wrong.
    for path in QgemmPath::available() {
        for (wv, k) in [(-128i8, 1000usize), (127, 1000), (-128, 17)] {
            let (m, n) = (5, 33);
            let a = vec![255u8; m * padded_k(k)];
            let w = vec![wv; n * k];
            let b = PackedB::pack(&w, n, k);
            let mut c = vec![0i32; m * n];
            qgemm_i32(path, m, &a, padded_k(k), &b, &mut c, n);
            assert!(c.iter().all(|&v| v == 255 * wv as i32 * k as i32), "{path} {wv} {k}");
        }
    }
}

#[test]
fn parallel_tiles_match_the_reference() {
    // Large enough to run on rayon (over 2^21 multiply-adds).
    for path in QgemmPath::available() {
        check_path(path, 130, 200, 300, 99);
    }
}

#[test]
fn zero_sized_products_do_nothing() {
    for path in QgemmPath::available() {
        let b = PackedB::pack(&[], 0, 5);
        let mut c: Vec<i32> = vec![];
        qgemm_i32(path, 3, &[0u8; 24], 8, &b, &mut c, 0);
        let b = PackedB::pack(&[1, 2], 2, 1);
        qgemm_i32(path, 0, &[], 4, &b, &mut c, 2);
    }
}

#[test]
fn path_names_round_trip() {
    for p in QgemmPath::ALL {
        assert_eq!(QgemmPath::from_name(p.name()), Some(p));
    }
    assert_eq!(QgemmPath::from_name(" AVX2 "), Some(QgemmPath::Avx2));
    assert_eq!(QgemmPath::from_name("sse"), None);
    assert!(QgemmPath::Portable.is_available());
    assert!(QgemmPath::detect().is_available());
    assert!(QgemmPath::selected().is_available());
}

/// The epilogue in plain arithmetic, from the integer reference: `f32`
/// output, and requantized `(u8 or i8 range) (scale, zp)` output.
fn epilogue_ref(acc: i32, colsum: i32, e: &Epilogue<'_>, j: usize) -> f32 {
    let c = acc - e.a_zero_point * colsum;
    let mut y = c as f32 * (e.a_scale * e.w_scales[j]) + e.bias.map_or(0.0, |b| b[j]);
    if e.relu {
        y = y.max(0.0);
    }
    y
}

#[allow(clippy::too_many_arguments)]
fn requant_ref(acc: i32, colsum: i32, e: &Epilogue<'_>, j: usize, scale: f32, zp: i32, lo: i32, hi: i32) -> i32 {
    let c = acc - e.a_zero_point * colsum;
    let inv = 1.0 / scale;
    let t = c as f32 * (e.a_scale * e.w_scales[j] * inv) + e.bias.map_or(0.0, |b| b[j]) * inv;
    let low = if e.relu {
        ((lo - zp) as f32).max(0.0)
    } else {
        (lo - zp) as f32
    };
    t.clamp(low, (hi - zp) as f32).round_ties_even() as i32 + zp
}

#[test]
fn epilogue_f32_u8_i8_on_every_path() {
    let (m, n, k) = (7, 37, 29);
    let mut rng = Rng::new(5);
    let a = rand_u8(&mut rng, m * padded_k(k));
    let w = rand_i8(&mut rng, n * k);
    let b = PackedB::pack(&w, n, k);
    let mut acc = vec![0i32; m * n];
    reference_i32(m, n, k, &a, padded_k(k), &w, &mut acc);
    let scales: Vec<f32> = (0..n).map(|j| 0.001 + j as f32 * 1e-4).collect();
    let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.1 - 1.5).collect();
    for relu in [false, true] {
        for with_bias in [false, true] {
            let e = Epilogue {
                a_zero_point: 37,
                a_scale: 0.02,
                w_scales: &scales,
                bias: with_bias.then_some(&bias[..]),
                relu,
            };
            let want: Vec<f32> = (0..m * n)
                .map(|i| epilogue_ref(acc[i], b.col_sums()[i % n], &e, i % n))
                .collect();
            if relu {
                assert!(want.iter().all(|&v| v >= 0.0));
            }
            let (oscale, ozp) = (0.05f32, 11);
            for path in QgemmPath::available() {
                let run = |out: QOut| qgemm(path, m, &a, padded_k(k), &b, &e, out, n);
                let mut f = vec![0f32; m * n];
                run(QOut::F32(&mut f));
                assert_eq!(f, want, "{path} f32 relu={relu} bias={with_bias}");
                let mut q = vec![0u8; m * n];
                run(QOut::U8 {
                    out: &mut q,
                    scale: oscale,
                    zero_point: ozp,
                });
                let mut qi = vec![0i8; m * n];
                run(QOut::I8 {
                    out: &mut qi,
                    scale: oscale,
                    zero_point: -3,
                });
                for i in 0..m * n {
                    let (acc_i, cs, j) = (acc[i], b.col_sums()[i % n], i % n);
                    assert_eq!(
                        q[i] as i32,
                        requant_ref(acc_i, cs, &e, j, oscale, ozp, 0, 255),
                        "{path} u8 {i}"
                    );
                    assert_eq!(
                        qi[i] as i32,
                        requant_ref(acc_i, cs, &e, j, oscale, -3, -128, 127),
                        "{path} i8 {i}"
                    );
                    // Dequantized, the u8 output is within half a step of y
                    // wherever it is not clamped.
                    let deq = (q[i] as f32 - ozp as f32) * oscale;
                    if q[i] != 0 && q[i] != 255 {
                        assert!((deq - want[i]).abs() <= oscale * 0.5 + 1e-4, "{deq} vs {}", want[i]);
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "A has")]
fn short_a_is_an_internal_error() {
    let b = PackedB::pack(&[1; 8], 2, 4);
    let mut c = [0i32; 4];
    qgemm_i32(QgemmPath::Portable, 2, &[0u8; 5], 4, &b, &mut c, 2);
}
