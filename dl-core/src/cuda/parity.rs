//! CPU-vs-CUDA parity of every op with a CUDA kernel, and an NVRTC compile
//! check of every `.cu` module.
//!
//! Without a GPU the parity tests print `skipped: no CUDA driver/GPU (reason)`
//! and return; without NVRTC the compile test prints why it is skipped.
//! Tolerance: `|cuda - cpu| <= atol + rtol |cpu|` with (rtol, atol) =
//! (1e-4, 1e-5) in f32 and (1e-10, 1e-12) in f64 (the device sums in a
//! different order, and its `exp`/`erf`/`tanh` differ by a few ulps).

use crate::cuda::CudaModule;
use crate::ops::matmul::{Batch, Gemm};
use crate::ops::util::testing::assert_close;
use crate::ops::util::{UnaryKernel, UnaryOp};
use crate::ops::{BinaryOp, Reduce, ReduceDims};
use crate::{Cpu, Cuda, Float, GemmKernel, Storage};

/// A parity test: `$case` in f32, then in f64, on the device (skipped
/// without one, see [`dev`]).
macro_rules! parity_test {
    ($name:ident: $case:ident) => {
        #[test]
        fn $name() {
            let Some(c) = dev() else { return };
            $case::<f32>(&c);
            $case::<f64>(&c);
        }
    };
}

/// Every NVRTC module of dl-core.
fn all_modules() -> Vec<CudaModule> {
    use crate::ops;
    let mut m: Vec<_> = ops::util::cuda_kernel::builtin()
        .into_iter()
        .map(|(op, k)| {
            k.and_then(|k| k.device_code())
                .unwrap_or_else(|| panic!("{op} has no device code"))
                .module
        })
        .collect();
    m.dedup(); // gelu and gelu_tanh share a module
    m.extend([
        super::FILL,
        ops::axpy::cuda_kernel::MODULE,
        ops::bias::cuda_kernel::MODULE,
        ops::binary::cuda_kernel::MODULE,
        ops::softmax::cuda_kernel::MODULE,
        ops::reduce::cuda_kernel::MODULE,
        ops::dropout::cuda_kernel::MODULE,
        ops::embedding::cuda_kernel::MODULE,
        ops::batchnorm::cuda_kernel::MODULE,
        ops::layernorm::cuda_kernel::MODULE,
        ops::conv2d::cuda_kernel::MODULE,
        ops::pool2d::cuda_kernel::MODULE,
        ops::attention::cuda_kernel::MODULE,
        ops::loss::cuda_kernel::MODULE,
        ops::optim::cuda_kernel::MODULE,
        ops::matmul::cuda_kernel::MODULE,
    ]);
    m
}

/// Module names label compile errors and missing kernels (the device
/// caches modules by source), so each names one module.
#[test]
fn module_names_are_unique() {
    let mut names: Vec<_> = all_modules().iter().map(|m| m.name).collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "a module name is used twice: {names:?}");
}

#[test]
fn nvrtc_compiles_every_module() {
    if !dl_cuda::nvrtc_present() {
        dl_cuda::skip_nvrtc_test("NVRTC library not found: put libnvrtc.so.13 or .so.12 on LD_LIBRARY_PATH (scripts/install-nvrtc.sh installs it and prints the folder)");
        return;
    }
    for CudaModule { name, src } in all_modules() {
        // sm_90 (H200) and sm_80 (A100): the architectures the backend is run on.
        for arch in [(9, 0), (8, 0)] {
            let ptx = dl_cuda::compile_ptx(name, src, Some(arch)).unwrap_or_else(|e| panic!("{e}"));
            assert!(ptx.contains(".entry"), "module {name} has no kernel");
        }
        println!("compiled {name}");
    }
}

/// The device, or `None` after printing why the test is skipped.
fn dev() -> Option<Cuda> {
    match Cuda::new(0) {
        Ok(d) => Some(d),
        Err(e) => {
            dl_cuda::skip_test(&format!("no CUDA driver/GPU ({e})"));
            None
        }
    }
}

fn tol<E: Float>() -> (f64, f64) {
    if E::DTYPE == crate::DType::F32 {
        (1e-4, 1e-5)
    } else {
        (1e-10, 1e-12)
    }
}

/// Deterministic non-uniform values in about [-2, 2].
fn data<E: Float>(n: usize, seed: u64) -> Vec<E> {
    let mut r = crate::Rng::new(seed);
    (0..n).map(|_| E::from_f64(r.uniform() * 4.0 - 2.0)).collect()
}

#[track_caller]
fn close<E: Float>(cuda: &Cuda, got: &<Cuda as Storage>::Buf<E>, want: &[E]) {
    let (rtol, atol) = tol::<E>();
    assert_close(&cuda.to_vec(got), want, rtol, atol);
}

/// [`close`] for each `(got, want)` pair.
#[track_caller]
fn close_all<E: Float>(cuda: &Cuda, pairs: &[(&<Cuda as Storage>::Buf<E>, &Vec<E>)]) {
    for (got, want) in pairs {
        close(cuda, got, want);
    }
}

fn unary_case<E: Float, Op: UnaryOp>(cuda: &Cuda, op: Op, xs: &[E]) {
    let g = data::<E>(xs.len(), 7);
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    Cpu.unary_forward(op, &xs.to_vec(), &mut y);
    Cpu.unary_backward(op, &xs.to_vec(), &y, &g, &mut dx);
    let (xd, gd) = (cuda.from_slice(xs), cuda.from_slice(&g));
    let (mut yd, mut dxd) = (cuda.zeros(0), cuda.zeros(0));
    cuda.unary_forward(op, &xd, &mut yd);
    // Backward from the CPU's y, so a forward difference does not compound.
    let ycpu = cuda.from_slice(&y);
    cuda.unary_backward(op, &xd, &ycpu, &gd, &mut dxd);
    close(cuda, &yd, &y);
    close(cuda, &dxd, &dx);
}

fn unary_all<E: Float>(cuda: &Cuda) {
    use crate::ops::*;
    let xs = data::<E>(5000, 1);
    let pos: Vec<E> = xs.iter().map(|v| v.abs() + E::from_f64(0.1)).collect();
    unary_case(cuda, Relu, &xs);
    unary_case(cuda, LeakyRelu { slope: 0.1 }, &xs);
    unary_case(cuda, Sigmoid, &xs);
    unary_case(cuda, Tanh, &xs);
    unary_case(cuda, Gelu, &xs);
    unary_case(cuda, GeluTanh, &xs);
    unary_case(cuda, Exp, &xs);
    unary_case(cuda, Log, &pos);
    unary_case(cuda, Sqrt, &pos);
    unary_case(cuda, Powf { exponent: 2.5 }, &pos);
    unary_case(cuda, Powf { exponent: 0.0 }, &xs);
}

parity_test!(unary_ops_match_cpu: unary_all);

fn gemm_all<E: Float>(cuda: &Cuda) {
    let (m, n, k, count) = (33, 17, 65, 3);
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        for (beta, shared_b) in [(0.0, false), (1.0, true)] {
            let mut g = Gemm::<E>::new(m, n, k, ta, tb);
            g.alpha = E::from_f64(0.75);
            g.beta = E::from_f64(beta);
            let batch = Batch {
                count,
                a_offset: 3,
                a_stride: m * k + 2,
                b_offset: 1,
                b_stride: if shared_b { 0 } else { k * n },
                c_offset: 5,
                c_stride: m * n + 1,
            };
            let a = data::<E>(3 + count * (m * k + 2), 2);
            let b = data::<E>(1 + count * k * n, 3);
            let c0 = data::<E>(5 + count * (m * n + 1), 4);
            let mut c = c0.clone();
            Cpu.gemm_batched(g, batch, &a, &b, &mut c);
            let (ad, bd, mut cd) = (cuda.from_slice(&a), cuda.from_slice(&b), cuda.from_slice(&c0));
            cuda.gemm_batched(g, batch, &ad, &bd, &mut cd);
            let (rtol, atol) = tol::<E>();
            // k = 65 products: scale the tolerance with the sum length.
            assert_close(&cuda.to_vec(&cd), &c, rtol * 10.0, atol * 100.0);
        }
    }
}

parity_test!(gemm_matches_cpu_for_all_transposes_and_batches: gemm_all);

/// Whether the autocast results `got` (CUDA) and `want` (the CPU's
/// emulation) agree: each within one unit in the last place of precision
/// `p` at the magnitude `scale[i]` (the two sum the `f32` products in
/// different orders, which can move a value across a rounding boundary),
/// and most of them (at least `min_equal`) bit for bit, which a wrong
/// rounding (truncation, a double rounding) would not give.
#[track_caller]
fn close_low(p: crate::amp::Precision, got: &[f32], want: &[f32], scale: &[f32], min_equal: f64) {
    use crate::amp::Precision;
    assert_eq!(got.len(), want.len());
    let (ulp, floor) = match p {
        Precision::Bf16 => (2f32.powi(-7), f32::MIN_POSITIVE),
        Precision::F16 => (2f32.powi(-10), 2f32.powi(-14)),
        Precision::F32 => unreachable!(),
    };
    let mut equal = 0usize;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        equal += (g.to_bits() == w.to_bits()) as usize;
        let bound = ulp * scale[i].abs().max(floor);
        assert!(
            (g - w).abs() <= bound,
            "{p}: element {i}: cuda {g} cpu {w} (bound {bound})"
        );
    }
    let share = equal as f64 / got.len().max(1) as f64;
    assert!(
        share >= min_equal,
        "{p}: only {:.1}% of the elements are bit-identical",
        share * 100.0
    );
}

/// Autocast on CUDA (tensor-core products of bf16/f16 operands with `f32`
/// accumulation, `ops/matmul/autocast.cu`) against the CPU's emulation:
/// every transpose combination, batches with gaps between the `C`s, a
/// shared `B`, accumulation into `C` (`beta = 1`), a fused bias on either
/// axis, and the convolution's forward and backward passes. The results
/// also differ from the `f32` products (the low path ran).
#[test]
fn autocast_products_match_the_cpu() {
    use crate::amp::{autocast, Precision};
    use crate::ops::matmul::{BiasAxis, GemmBiasKernel};
    let Some(cuda) = dev() else { return };
    for p in [Precision::Bf16, Precision::F16] {
        let (m, n, k, count) = (33, 17, 65, 3);
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            for (beta, shared_b) in [(0.0f32, false), (1.0, true)] {
                let mut g = Gemm::<f32>::new(m, n, k, ta, tb);
                g.alpha = 0.75;
                g.beta = beta;
                let batch = Batch {
                    count,
                    a_offset: 3,
                    a_stride: m * k + 2,
                    b_offset: 1,
                    b_stride: if shared_b { 0 } else { k * n },
                    c_offset: 5,
                    c_stride: m * n + 1,
                };
                let a = data::<f32>(3 + count * (m * k + 2), 2);
                let b = data::<f32>(1 + count * k * n, 3);
                let c0 = data::<f32>(5 + count * (m * n + 1), 4);
                let (mut want, mut plain) = (c0.clone(), c0.clone());
                autocast(&Cpu, p, || Cpu.gemm_batched(g, batch, &a, &b, &mut want)).unwrap();
                Cpu.gemm_batched(g, batch, &a, &b, &mut plain);
                let (ad, bd, mut cd) = (cuda.from_slice(&a), cuda.from_slice(&b), cuda.from_slice(&c0));
                autocast(&cuda, p, || cuda.gemm_batched(g, batch, &ad, &bd, &mut cd)).unwrap();
                let got = cuda.to_vec(&cd);
                // The rounded product is at most |want| + beta |c0|.
                let scale: Vec<f32> = want.iter().zip(&c0).map(|(w, c)| w.abs() + beta * c.abs()).collect();
                close_low(p, &got, &want, &scale, 0.9);
                let differ = got.iter().zip(&plain).filter(|(x, y)| x != y).count();
                assert!(differ > m * n, "{p}: the CUDA product looks like the f32 one");
            }
        }
        // A fused bias on either axis: added before the one rounding.
        for axis in [BiasAxis::Columns, BiasAxis::Rows] {
            let g = Gemm::<f32>::new(m, n, k, false, true);
            let (a, b) = (data::<f32>(m * k, 5), data::<f32>(n * k, 6));
            let bias = data::<f32>(if axis == BiasAxis::Rows { m } else { n }, 7);
            let mut want = vec![0.0f32; m * n];
            autocast(&Cpu, p, || Cpu.gemm_bias(g, &a, &b, &bias, axis, &mut want)).unwrap();
            let (ad, bd, biasd, mut cd) = (
                cuda.from_slice(&a),
                cuda.from_slice(&b),
                cuda.from_slice(&bias),
                cuda.zeros(m * n),
            );
            autocast(&cuda, p, || cuda.gemm_bias(g, &ad, &bd, &biasd, axis, &mut cd)).unwrap();
            close_low(p, &cuda.to_vec(&cd), &want, &want, 0.9);
        }
        autocast_conv(&cuda, p);
    }
}

/// The convolution under autocast (im2col products with the bias before
/// the rounding; `dx` and `dw` from autocast products), CUDA against CPU.
fn autocast_conv(c: &Cuda, p: crate::amp::Precision) {
    use crate::amp::autocast;
    use crate::ops::conv2d::{Conv2dDims, Conv2dKernel};
    use crate::ops::matmul::GemmWorkspace;
    let d = Conv2dDims {
        n: 3,
        c_in: 2,
        h: 9,
        w: 8,
        c_out: 4,
        k: 3,
        stride: 1,
        pad: 1,
    };
    let (x, w, b, g) = (
        data::<f32>(d.x_len(), 61),
        data::<f32>(d.w_len(), 62),
        data::<f32>(d.c_out, 63),
        data::<f32>(d.y_len(), 64),
    );
    let (mut y, mut dx, mut dw, mut db, mut ws) = (vec![], vec![], vec![0.0; d.w_len()], vec![0.0; d.c_out], vec![]);
    autocast(&Cpu, p, || {
        Cpu.conv2d_forward(d, &x, &w, Some(&b), &mut y, &mut ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_input(d, &w, &g, &mut dx, &mut ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_weight(d, &x, &g, &mut dw, Some(&mut db), &mut ws, &mut GemmWorkspace::new());
    })
    .unwrap();
    let (xd, wd, bd, gd) = (c.from_slice(&x), c.from_slice(&w), c.from_slice(&b), c.from_slice(&g));
    let (mut yd, mut dxd, mut wsd) = (c.zeros(0), c.zeros(0), c.zeros(0));
    let (mut dwd, mut dbd) = (c.zeros(d.w_len()), c.zeros(d.c_out));
    autocast(c, p, || {
        c.conv2d_forward(d, &xd, &wd, Some(&bd), &mut yd, &mut wsd, &mut GemmWorkspace::new());
        c.conv2d_backward_input(d, &wd, &gd, &mut dxd, &mut wsd, &mut GemmWorkspace::new());
        c.conv2d_backward_weight(
            d,
            &xd,
            &gd,
            &mut dwd,
            Some(&mut dbd),
            &mut wsd,
            &mut GemmWorkspace::new(),
        );
    })
    .unwrap();
    close_low(p, &c.to_vec(&yd), &y, &y, 0.9);
    // dx sums the rounded per-tap products in f32 (col2im): a few ulps of
    // its largest term; dw may be one product or a sum of per-sample
    // products, depending on the backend's column layout: a few ulps of
    // the largest value. db is an f32 reduction (not autocast).
    let largest = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let (sx, sw) = (
        vec![4.0 * largest(&dx); dx.len()],
        vec![4.0 * d.n as f32 * largest(&dw); dw.len()],
    );
    close_low(p, &c.to_vec(&dxd), &dx, &sx, 0.0);
    close_low(p, &c.to_vec(&dwd), &dw, &sw, 0.0);
    let (rtol, atol) = tol::<f32>();
    assert_close(&c.to_vec(&dbd), &db, rtol * 10.0, atol * 100.0);
}

fn small_ops<E: Float>(cuda: &Cuda) {
    use crate::ops::axpy::AxpyKernel;
    use crate::ops::bias::{BiasDims, BiasKernel};
    use crate::ops::binary::{BinaryDims, BinaryKernel};
    use crate::ops::reduce::ReduceKernel;
    use crate::ops::softmax::{SoftmaxDims, SoftmaxKernel};
    // axpy
    let (x, y0) = (data::<E>(3000, 5), data::<E>(3000, 6));
    let mut y = y0.clone();
    Cpu.axpy(E::from_f64(-0.5), &x, &mut y);
    let mut yd = cuda.from_slice(&y0);
    cuda.axpy(E::from_f64(-0.5), &cuda.from_slice(&x), &mut yd);
    close(cuda, &yd, &y);
    // bias
    let d = BiasDims {
        outer: 7,
        channels: 5,
        inner: 37,
    };
    let (b, yb) = (data::<E>(5, 8), data::<E>(7 * 5 * 37, 9));
    let (mut y, mut db) = (yb.clone(), data::<E>(5, 10));
    let db0 = db.clone();
    Cpu.bias_add(d, &b, &mut y);
    Cpu.bias_grad(d, &yb, &mut db);
    let (mut yd, mut dbd) = (cuda.from_slice(&yb), cuda.from_slice(&db0));
    cuda.bias_add(d, &cuda.from_slice(&b), &mut yd);
    cuda.bias_grad(d, &cuda.from_slice(&yb), &mut dbd);
    close(cuda, &yd, &y);
    close(cuda, &dbd, &db);
    // binary, both layouts, every op (b kept away from 0 for div)
    for op in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div] {
        for bc in [false, true] {
            let d = BinaryDims {
                outer: 9,
                inner: 301,
                broadcast_b: bc,
            };
            let a = data::<E>(9 * 301, 11);
            let b: Vec<E> = data::<E>(if bc { 301 } else { 9 * 301 }, 12)
                .into_iter()
                .map(|v| v.abs() + E::from_f64(0.5))
                .collect();
            let g = data::<E>(9 * 301, 13);
            let (mut o, mut da, mut db) = (Vec::new(), Vec::new(), Vec::new());
            Cpu.binary_forward(op, d, &a, &b, &mut o);
            Cpu.binary_backward(op, d, &a, &b, &g, &mut da, &mut db);
            let (ad, bd, gd) = (cuda.from_slice(&a), cuda.from_slice(&b), cuda.from_slice(&g));
            let (mut od, mut dad, mut dbd) = (cuda.zeros(0), cuda.zeros(0), cuda.zeros(0));
            cuda.binary_forward(op, d, &ad, &bd, &mut od);
            cuda.binary_backward(op, d, &ad, &bd, &gd, &mut dad, &mut dbd);
            close(cuda, &od, &o);
            close(cuda, &dad, &da);
            close(cuda, &dbd, &db);
        }
    }
    // softmax and log-softmax, a row longer than a block
    for log in [false, true] {
        let (rows, cols) = (6, 700);
        let (x, g) = (data::<E>(rows * cols, 14), data::<E>(rows * cols, 15));
        let (mut y, mut dx) = (Vec::new(), Vec::new());
        Cpu.softmax_forward(SoftmaxDims::new(rows, cols, log), &x, &mut y);
        Cpu.softmax_backward(SoftmaxDims::new(rows, cols, log), &y, &g, &mut dx);
        let (mut yd, mut dxd) = (cuda.zeros(0), cuda.zeros(0));
        cuda.softmax_forward(SoftmaxDims::new(rows, cols, log), &cuda.from_slice(&x), &mut yd);
        cuda.softmax_backward(
            SoftmaxDims::new(rows, cols, log),
            &cuda.from_slice(&y),
            &cuda.from_slice(&g),
            &mut dxd,
        );
        close(cuda, &yd, &y);
        close(cuda, &dxd, &dx);
    }
    // reductions: one thread per output (the first shape), one block per
    // output (the others: a whole-matrix sum, strided columns, ties and a NaN)
    let shapes = [(4, 33, 10), (1, 100_003, 1), (3, 1000, 7), (2, 600, 1)];
    for ((outer, axis, inner), r) in shapes
        .into_iter()
        .flat_map(|s| [Reduce::Sum, Reduce::Mean, Reduce::Max].map(|r| (s, r)))
    {
        let d = ReduceDims { outer, axis, inner };
        assert_eq!(
            crate::ops::reduce::cuda_kernel::block_per_output(d),
            axis != 33,
            "{d:?} takes the other kernel than this test means to check"
        );
        let mut x = data::<E>(outer * axis * inner, 16);
        if axis != 33 {
            // Positive values: long sums stay far from 0, so the CPU's
            // sequential f32 sum and the GPU's tree are within the relative
            // tolerance (near 0 only the absolute one would apply).
            x.iter_mut().for_each(|v| *v = E::from_f64(v.to_f64().abs()));
        }
        if axis == 600 {
            // Ties for the maximum (the first wins) in row 0, a NaN (it wins) in row 1.
            x[17] = E::from_f64(5.0);
            x[400] = E::from_f64(5.0);
            x[600 + 300] = E::from_f64(f64::NAN);
            x[600 + 500] = E::from_f64(f64::NAN);
        }
        let g = data::<E>(outer * inner, 17);
        let (mut y, mut dx) = (Vec::new(), Vec::new());
        Cpu.reduce_forward(r, d, &x, &mut y);
        Cpu.reduce_backward(r, d, &x, &g, &mut dx);
        let xd = cuda.from_slice(&x);
        let (mut yd, mut dxd) = (cuda.zeros(0), cuda.zeros(0));
        cuda.reduce_forward(r, d, &xd, &mut yd);
        cuda.reduce_backward(r, d, &xd, &cuda.from_slice(&g), &mut dxd);
        close(cuda, &yd, &y);
        close(cuda, &dxd, &dx);
    }
}

parity_test!(axpy_bias_binary_softmax_reduce_match_cpu: small_ops);

#[test]
fn storage_round_trips_and_the_allocator_reuses_blocks() {
    let Some(c) = dev() else { return };
    let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let mut b = c.from_slice(&v);
    assert_eq!(c.to_vec(&b), v);
    c.resize(&mut b, 10);
    c.resize(&mut b, 20);
    let got = c.to_vec(&b);
    assert_eq!(&got[..10], &v[..10]);
    assert!(got[10..].iter().all(|&x| x == 0.0), "grown elements are zero");
    c.fill(&mut b, 2.5);
    assert!(c.to_vec(&b).iter().all(|&x| x == 2.5));
    let mut d = c.zeros::<f32>(0);
    c.copy(&b, &mut d);
    assert_eq!(c.to_vec(&d), c.to_vec(&b));
    assert_eq!(c.idx_to_vec(&c.idx_from_slice(&[1, 2, 3])), vec![1, 2, 3]);
    // Steady state: the same allocations again come from the free lists.
    let step = || {
        let _a = c.zeros::<f32>(5000);
        let _b = c.zeros::<f64>(123);
    };
    step();
    let before = c.device().allocator().stats().raw_allocs;
    for _ in 0..5 {
        step();
    }
    assert_eq!(
        c.device().allocator().stats().raw_allocs,
        before,
        "no cuMemAlloc in steady state"
    );
}

mod nn;
