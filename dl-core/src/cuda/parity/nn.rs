//! CPU-vs-CUDA parity of the network ops (dropout, batchnorm, layernorm,
//! embedding, conv2d, pool2d, attention, loss, optim), forward and backward,
//! in f32 and f64; the `Cuda: Backend` assertion; and a check that every
//! kernel the Rust side launches is an entry of its compiled module.
//! Without a GPU each test prints `skipped: no CUDA driver/GPU (...)`.

use super::{close, close_all, data, dev, tol};
use crate::ops::attention::{AttentionKernel, AttnMask, HeadDims, ScoreDims};
use crate::ops::batchnorm::testing::{norm_bwd, norm_fwd};
use crate::ops::batchnorm::{BatchNormConfig, BatchNormKernel, NormDims, RunningStats};
use crate::ops::conv2d::{Conv2dDims, Conv2dKernel};
use crate::ops::dropout::DropoutKernel;
use crate::ops::embedding::EmbeddingKernel;
use crate::ops::layernorm::LayerNormKernel;
use crate::ops::loss::{BadLabel, ClassDims, LossKernel, PointwiseLoss};
use crate::ops::matmul::GemmWorkspace;
use crate::ops::optim::{AdagradHyper, AdamHyper, OptimKernel, Penalty, RmsPropHyper, SgdHyper};
use crate::ops::pool2d::{Pool2dDims, Pool2dKernel};
use crate::ops::util::testing::assert_close;
use crate::{Backend, Cpu, Cuda, Float, Storage};

/// `Cuda` implements every kernel trait: generic code over `B: Backend`
/// (what `#[network]` generates) accepts it. A compile-time check.
#[test]
fn cuda_is_a_backend() {
    fn assert_backend<B: Backend>() {}
    assert_backend::<Cuda>();
    assert_backend::<Cpu>();
}

/// Kernel names (without the `_f32`/`_f64` suffix where typed) that the
/// `cuda_kernel.rs` files of these ops launch, by module.
const KERNELS: &[(&str, &[&str], bool)] = &[
    ("dropout", &["dropout_mask"], true),
    (
        "embedding",
        &["embedding_fwd", "embedding_invalid", "embedding_bwd"],
        true,
    ),
    (
        "batchnorm",
        &["bn_stats", "bn_eval_stats", "bn_apply", "bn_bwd_sums", "bn_bwd_apply"],
        true,
    ),
    ("layernorm", &["ln_fwd", "ln_bwd_dx", "ln_bwd_params"], true),
    (
        "reduce",
        &["reduce_fwd", "reduce_bwd", "reduce_block_fwd", "reduce_block_bwd"],
        true,
    ),
    ("conv2d", &["im2col", "col2im", "transpose_nc"], true),
    (
        "pool2d",
        &[
            "maxpool_fwd",
            "maxpool_bwd",
            "avgpool_fwd",
            "avgpool_bwd",
            "gap_fwd",
            "gap_bwd",
        ],
        true,
    ),
    (
        "attention",
        &["masked_softmax_fwd", "masked_softmax_bwd", "split_heads", "merge_heads"],
        true,
    ),
    ("loss", &["cross_entropy", "pointwise_loss", "count_correct"], true),
    ("loss", &["check_labels", "sum_rows_f64", "det_sum_finish"], false),
    (
        "optim",
        &[
            "sgd_update",
            "adagrad_update",
            "rmsprop_update",
            "adam_update",
            "sum_sq_abs",
            "scale",
            "penalty_grad",
        ],
        true,
    ),
    ("optim", &["det_sum_finish"], false),
    (
        "autocast",
        &["amp_to_low", "amp_round_inplace", "amp_round_into"],
        false,
    ),
];

#[test]
fn every_launched_kernel_is_in_its_module() {
    if !dl_cuda::nvrtc_present() {
        dl_cuda::skip_test("NVRTC library not found (put libnvrtc.so.13 or .so.12 on LD_LIBRARY_PATH)");
        return;
    }
    let modules = super::all_modules();
    for &(module, names, typed) in KERNELS {
        let src = modules.iter().find(|m| m.name == module).expect("module listed").src;
        let ptx = dl_cuda::compile_ptx(module, src, Some((9, 0))).unwrap_or_else(|e| panic!("{e}"));
        for name in names {
            let full: Vec<String> = if typed {
                vec![format!("{name}_f32"), format!("{name}_f64")]
            } else {
                vec![name.to_string()]
            };
            for f in full {
                assert!(
                    ptx.contains(&format!(".entry {f}(")),
                    "module {module} lacks kernel {f}"
                );
            }
        }
    }
}

fn dropout_case<E: Float>(c: &Cuda) {
    for (p, seed) in [(0.0, 1u64), (0.3, 2), (0.5, 0xDEAD_BEEF), (0.9, 4), (1.0, 5)] {
        let len = 10_007;
        let mut want = Vec::<E>::new();
        Cpu.dropout_mask(p, seed, len, &mut want);
        let mut got = c.zeros::<E>(3);
        c.dropout_mask(p, seed, len, &mut got);
        assert_eq!(
            c.to_vec(&got),
            want,
            "dropout mask p={p} seed={seed}: not bit-identical"
        );
    }
}

parity_test!(dropout_masks_match_cpu_bit_for_bit: dropout_case);

fn embedding_case<E: Float>(c: &Cuda) {
    let (vocab, dim) = (13, 300);
    let mut ids: Vec<E> = (0..40).map(|i| E::from_f64(((i * 7) % 13) as f64)).collect();
    ids[3] = E::from_f64(-1.0);
    ids[10] = E::from_f64(13.0);
    ids[20] = E::from_f64(2.5);
    let w = data::<E>(vocab * dim, 21);
    let (mut y, mut dw) = (Vec::new(), data::<E>(vocab * dim, 22));
    let dw0 = dw.clone();
    let bad = Cpu.embedding_forward(vocab, dim, &ids, &w, &mut y);
    let g = data::<E>(ids.len() * dim, 23);
    Cpu.embedding_backward(vocab, dim, &ids, &g, &mut dw);
    let idd = c.from_slice(&ids);
    let mut yd = c.zeros(0);
    assert_eq!(c.embedding_forward(vocab, dim, &idd, &c.from_slice(&w), &mut yd), bad);
    // A gather is exact; invalid ids give NaN rows on both.
    let same = |v: &[E]| {
        v.iter()
            .map(|x| x.to_f64())
            .map(|x| if x.is_nan() { None } else { Some(x) })
            .collect::<Vec<_>>()
    };
    assert_eq!(same(&c.to_vec(&yd)), same(&y), "a gather is exact");
    let mut dwd = c.from_slice(&dw0);
    c.embedding_backward(vocab, dim, &idd, &c.from_slice(&g), &mut dwd);
    // Same per-element order (tokens in order): equal up to FMA-free adds.
    close(c, &dwd, &dw);
}

parity_test!(embedding_matches_cpu: embedding_case);

/// Asserts that host copies of CUDA results equal the CPU's, one by one.
#[track_caller]
fn close_host<E: Float>(got: &[Vec<E>], want: &[Vec<E>]) {
    let (rtol, atol) = tol::<E>();
    for (got, want) in got.iter().zip(want) {
        assert_close(got, want, rtol, atol);
    }
}

fn batchnorm_case<E: Float>(c: &Cuda) {
    let cfg = BatchNormConfig::default();
    for d in [
        NormDims {
            outer: 8,
            channels: 5,
            inner: 49,
        },
        NormDims {
            outer: 300,
            channels: 3,
            inner: 1,
        },
    ] {
        let n = d.outer * d.channels * d.inner;
        let (x, g) = (data::<E>(n, 31), data::<E>(n, 32));
        let (gamma, beta) = (data::<E>(d.channels, 33), data::<E>(d.channels, 34));
        let rv0: Vec<E> = data::<E>(d.channels, 35).iter().map(|v| v.abs()).collect();
        let rm0 = data::<E>(d.channels, 36);
        let ins = [&x[..], &gamma, &beta];
        // training forward
        let (mut rm, mut rv) = (rm0.clone(), rv0.clone());
        let want = norm_fwd(&Cpu, ins, |b| {
            let running = RunningStats::Update {
                mean: &mut rm,
                var: &mut rv,
            };
            Cpu.batchnorm_forward(d, cfg, running, b)
        });
        let (mut rmd, mut rvd) = (c.from_slice(&rm0), c.from_slice(&rv0));
        let got = norm_fwd(c, ins, |b| {
            let running = RunningStats::Update {
                mean: &mut rmd,
                var: &mut rvd,
            };
            c.batchnorm_forward(d, cfg, running, b)
        });
        close_host(&got, &want);
        close_all(c, &[(&rmd, &rm), (&rvd, &rv)]);
        // backward, training and evaluation statistics
        let [_, m, r] = &want;
        for batch_stats in [true, false] {
            let (ins, grads) = (
                [&x[..], &gamma, m, r, &g],
                [&data::<E>(d.channels, 37)[..], &data(d.channels, 38)],
            );
            let want = norm_bwd(&Cpu, ins, grads, |b| Cpu.batchnorm_backward(d, batch_stats, b));
            close_host(
                &norm_bwd(c, ins, grads, |b| c.batchnorm_backward(d, batch_stats, b)),
                &want,
            );
        }
        // evaluation forward
        let want = norm_fwd(&Cpu, ins, |b| {
            Cpu.batchnorm_forward(d, cfg, RunningStats::Use { mean: &rm0, var: &rv0 }, b)
        });
        let (rmd, rvd) = (c.from_slice(&rm0), c.from_slice(&rv0));
        let got = norm_fwd(c, ins, |b| {
            c.batchnorm_forward(d, cfg, RunningStats::Use { mean: &rmd, var: &rvd }, b)
        });
        close_host(&got, &want);
    }
}

parity_test!(batchnorm_matches_cpu: batchnorm_case);

fn layernorm_case<E: Float>(c: &Cuda) {
    for (rows, dim) in [(5, 300), (70, 8)] {
        let n = rows * dim;
        let (x, g) = (data::<E>(n, 41), data::<E>(n, 42));
        let (gamma, beta) = (data::<E>(dim, 43), data::<E>(dim, 44));
        let ins = [&x[..], &gamma, &beta];
        let want = norm_fwd(&Cpu, ins, |b| Cpu.layernorm_forward(rows, dim, 1e-5, b));
        close_host(&norm_fwd(c, ins, |b| c.layernorm_forward(rows, dim, 1e-5, b)), &want);
        let [_, m, r] = &want;
        let (ins, grads) = ([&x[..], &gamma, m, r, &g], [&data::<E>(dim, 45)[..], &data(dim, 46)]);
        let want = norm_bwd(&Cpu, ins, grads, |b| Cpu.layernorm_backward(rows, dim, b));
        close_host(&norm_bwd(c, ins, grads, |b| c.layernorm_backward(rows, dim, b)), &want);
    }
}

parity_test!(layernorm_matches_cpu: layernorm_case);

fn conv_case<E: Float>(c: &Cuda) {
    let (rtol, atol) = tol::<E>();
    let base = Conv2dDims {
        n: 3,
        c_in: 2,
        h: 9,
        w: 8,
        c_out: 4,
        k: 3,
        stride: 1,
        pad: 0,
    };
    for d in [
        base,
        Conv2dDims {
            stride: 2,
            pad: 1,
            ..base
        },
        Conv2dDims { k: 1, ..base },
        Conv2dDims {
            k: 5,
            stride: 2,
            pad: 2,
            ..base
        },
    ] {
        let (x, w, b) = (
            data::<E>(d.x_len(), 51),
            data::<E>(d.w_len(), 52),
            data::<E>(d.c_out, 53),
        );
        let g = data::<E>(d.y_len(), 54);
        let (mut y, mut dx, mut ws) = (vec![], vec![], vec![]);
        let (mut dw, mut db) = (data::<E>(d.w_len(), 55), data::<E>(d.c_out, 56));
        let (mut dwd, mut dbd) = (c.from_slice(&dw), c.from_slice(&db));
        Cpu.conv2d_forward(d, &x, &w, Some(&b), &mut y, &mut ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_input(d, &w, &g, &mut dx, &mut ws, &mut GemmWorkspace::new());
        Cpu.conv2d_backward_weight(d, &x, &g, &mut dw, Some(&mut db), &mut ws, &mut GemmWorkspace::new());
        let (xd, wd, bd, gd) = (c.from_slice(&x), c.from_slice(&w), c.from_slice(&b), c.from_slice(&g));
        let (mut yd, mut dxd, mut wsd) = (c.zeros(0), c.zeros(0), c.zeros(0));
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
        // GEMM sums of up to n*oh*ow products: scale the tolerance as the GEMM test does.
        for (got, want) in [(&yd, &y), (&dxd, &dx), (&dwd, &dw), (&dbd, &db)] {
            assert_close(&c.to_vec(got), want, rtol * 10.0, atol * 100.0);
        }
    }
}

parity_test!(conv2d_matches_cpu: conv_case);

fn pool_case<E: Float>(c: &Cuda) {
    let base = Pool2dDims {
        n: 2,
        c: 3,
        h: 11,
        w: 10,
        k: 2,
        stride: 2,
        pad: 0,
    };
    for d in [
        base,
        Pool2dDims {
            k: 3,
            stride: 2,
            pad: 1,
            ..base
        },
        Pool2dDims {
            k: 3,
            stride: 1,
            pad: 1,
            ..base
        },
    ] {
        let mut x = data::<E>(d.x_len(), 61);
        x[5] = x[4]; // a tie: the first maximum wins on both
        let g = data::<E>(d.y_len(), 62);
        let xd = c.from_slice(&x);
        let gd = c.from_slice(&g);
        let (mut y, mut am, mut dx) = (vec![], vec![], vec![]);
        Cpu.maxpool2d_forward(d, &x, &mut y, &mut am);
        Cpu.maxpool2d_backward(d, &am, &g, &mut dx);
        let (mut yd, mut amd, mut dxd) = (c.zeros(0), c.idx_from_slice(&[]), c.zeros(0));
        c.maxpool2d_forward(d, &xd, &mut yd, &mut amd);
        assert_eq!(c.idx_to_vec(&amd), am, "argmax");
        assert_eq!(c.to_vec(&yd), y, "max is exact");
        c.maxpool2d_backward(d, &amd, &gd, &mut dxd);
        close(c, &dxd, &dx);
        let (mut y, mut dx) = (vec![], vec![]);
        Cpu.avgpool2d_forward(d, &x, &mut y);
        Cpu.avgpool2d_backward(d, &g, &mut dx);
        let (mut yd, mut dxd) = (c.zeros(0), c.zeros(0));
        c.avgpool2d_forward(d, &xd, &mut yd);
        c.avgpool2d_backward(d, &gd, &mut dxd);
        close_all(c, &[(&yd, &y), (&dxd, &dx)]);
    }
    for (planes, hw) in [(6, 110), (3, 1000)] {
        let (x, g) = (data::<E>(planes * hw, 63), data::<E>(planes, 64));
        let (mut y, mut dx) = (vec![], vec![]);
        Cpu.global_avgpool2d_forward(planes, hw, &x, &mut y);
        Cpu.global_avgpool2d_backward(planes, hw, &g, &mut dx);
        let (mut yd, mut dxd) = (c.zeros(0), c.zeros(0));
        c.global_avgpool2d_forward(planes, hw, &c.from_slice(&x), &mut yd);
        c.global_avgpool2d_backward(planes, hw, &c.from_slice(&g), &mut dxd);
        close_all(c, &[(&yd, &y), (&dxd, &dx)]);
    }
}

parity_test!(pool2d_matches_cpu: pool_case);

fn attention_case<E: Float>(c: &Cuda) {
    let masks = AttnMask::combinations(&[1, 2, usize::MAX]);
    for (count, tq, tk) in [(3, 7, 9), (2, 4, 300)] {
        for &mask in &masks {
            let n = count * tq * tk;
            let (s0, g) = (data::<E>(n, 71), data::<E>(n, 72));
            let mut p = s0.clone();
            Cpu.masked_softmax_forward(ScoreDims::new(count, tq, tk, mask), &mut p);
            let mut pd = c.from_slice(&s0);
            c.masked_softmax_forward(ScoreDims::new(count, tq, tk, mask), &mut pd);
            close(c, &pd, &p);
            let mut dp = g.clone();
            Cpu.masked_softmax_backward(ScoreDims::new(count, tq, tk, mask), &p, &mut dp);
            let mut dpd = c.from_slice(&g);
            c.masked_softmax_backward(ScoreDims::new(count, tq, tk, mask), &c.from_slice(&p), &mut dpd);
            close(c, &dpd, &dp);
        }
    }
    let d = HeadDims {
        n: 2,
        t: 5,
        heads: 3,
        head_dim: 4,
        chunks: 3,
    };
    let packed = data::<E>(d.packed_len(), 73);
    let pd = c.from_slice(&packed);
    let (mut merged, mut merged_d) = (vec![E::ZERO; d.packed_len()], c.zeros(d.packed_len()));
    for chunk in 0..d.chunks {
        let mut h = vec![];
        Cpu.split_heads(d, chunk, &packed, &mut h);
        let mut hd = c.zeros(0);
        c.split_heads(d, chunk, &pd, &mut hd);
        assert_eq!(c.to_vec(&hd), h, "split_heads chunk {chunk}");
        Cpu.merge_heads(d, chunk, &h, &mut merged);
        c.merge_heads(d, chunk, &hd, &mut merged_d);
    }
    assert_eq!(c.to_vec(&merged_d), merged);
    assert_eq!(merged, packed, "merge inverts split");
}

parity_test!(attention_matches_cpu: attention_case);

#[track_caller]
fn close_scalar<E: Float>(got: E, want: E) {
    let (rtol, atol) = tol::<E>();
    assert_close(&[got], &[want], rtol, atol);
}

fn loss_case<E: Float>(c: &Cuda) {
    for (rows, classes) in [(37, 10), (4, 300), (3000, 3)] {
        let d = ClassDims { rows, classes };
        let mut x = data::<E>(rows * classes, 81);
        x[0] = E::from_f64(1e4); // large logits stay finite
        let labels: Vec<u32> = (0..rows).map(|r| ((r * 5 + 1) % classes) as u32).collect();
        let (xd, ld) = (c.from_slice(&x), c.idx_from_slice(&labels));
        for smoothing in [0.0, 0.1] {
            let mut g = vec![];
            let want = Cpu
                .cross_entropy(d, smoothing, 1.0 / rows as f64, &x, &labels, &mut g)
                .unwrap();
            let mut gd = c.zeros(0);
            let got = c
                .cross_entropy(d, smoothing, 1.0 / rows as f64, &xd, &ld, &mut gd)
                .unwrap();
            close_scalar(got, want);
            close(c, &gd, &g);
        }
        assert_eq!(c.count_correct(d, &xd, &ld), Cpu.count_correct(d, &x, &labels));
    }
    // a bad label: the first one is reported
    let d = ClassDims { rows: 4, classes: 3 };
    let (x, labels) = (data::<E>(12, 82), vec![0u32, 5, 1, 9]);
    let want = Err(BadLabel { sample: 1, label: 5 });
    let (xd, ld) = (c.from_slice(&x), c.idx_from_slice(&labels));
    assert_eq!(c.cross_entropy(d, 0.0, 1.0, &xd, &ld, &mut c.zeros(0)), want);
    assert_eq!(c.count_correct(d, &xd, &ld), Err(BadLabel { sample: 1, label: 5 }));
    // count_correct with a NaN row (NaN counts as maximal)
    let mut x = data::<E>(12, 83);
    x[4] = E::from_f64(f64::NAN);
    let labels = vec![0u32, 1, 2, 0];
    assert_eq!(
        c.count_correct(d, &c.from_slice(&x), &c.idx_from_slice(&labels)),
        Cpu.count_correct(d, &x, &labels)
    );
    // element-wise losses
    let n = 5000;
    let p = data::<E>(n, 84);
    let probs: Vec<E> = data::<E>(n, 85)
        .iter()
        .map(|v| E::from_f64((v.to_f64() + 2.0) / 4.0))
        .collect();
    let mut t = probs.clone();
    t[7] = E::ZERO; // kl: t = 0 contributes 0
    t[8] = p[8]; // l1/mse: a zero difference
    for kind in [
        PointwiseLoss::Mse,
        PointwiseLoss::L1,
        PointwiseLoss::BceWithLogits,
        PointwiseLoss::KlDiv,
    ] {
        let mut g = vec![];
        let want = Cpu.pointwise_loss(kind, n, 1.0 / n as f64, &p, &t, &mut g);
        let mut gd = c.zeros(0);
        let got = c.pointwise_loss(kind, n, 1.0 / n as f64, &c.from_slice(&p), &c.from_slice(&t), &mut gd);
        close_scalar(got, want);
        close(c, &gd, &g);
    }
}

parity_test!(losses_match_cpu: loss_case);

fn optim_case<E: Float>(c: &Cuda) {
    let n = 3001;
    let p0 = data::<E>(n, 91);
    let grads: Vec<Vec<E>> = (0..3).map(|s| data::<E>(n, 92 + s)).collect();
    let pos = |v: Vec<E>| -> Vec<E> { v.iter().map(|x| x.abs()).collect() };
    // SGD: plain, momentum + Nesterov + weight decay
    for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.9, true)] {
        let (mut p, mut buf) = (p0.clone(), if momentum > 0.0 { vec![E::ZERO; n] } else { vec![] });
        let (mut pd, mut bd) = (c.from_slice(&p), c.from_slice(&buf));
        for (t, g) in grads.iter().enumerate() {
            let h = SgdHyper {
                lr: 0.1,
                momentum,
                dampening: 0.0,
                weight_decay: 0.01,
                nesterov,
                first_step: t == 0,
            };
            Cpu.sgd_update(&h, &mut p, g, &mut buf);
            c.sgd_update(&h, &mut pd, &c.from_slice(g), &mut bd);
        }
        close_all(c, &[(&pd, &p), (&bd, &buf)]);
    }
    // Adagrad
    let (mut p, mut s) = (p0.clone(), vec![E::ZERO; n]);
    let (mut pd, mut sd) = (c.from_slice(&p), c.from_slice(&s));
    for g in &grads {
        let h = AdagradHyper {
            clr: 0.05,
            eps: 1e-10,
            weight_decay: 0.01,
        };
        Cpu.adagrad_update(&h, &mut p, g, &mut s);
        c.adagrad_update(&h, &mut pd, &c.from_slice(g), &mut sd);
    }
    close_all(c, &[(&pd, &p), (&sd, &s)]);
    // RMSprop: plain, centered with momentum
    for (momentum, centered) in [(0.0, false), (0.5, true)] {
        let mut p = p0.clone();
        let mut sq = vec![E::ZERO; n];
        let mut mb = if momentum > 0.0 { vec![E::ZERO; n] } else { vec![] };
        let mut ga = if centered { vec![E::ZERO; n] } else { vec![] };
        let (mut pd, mut sqd, mut mbd, mut gad) = (
            c.from_slice(&p),
            c.from_slice(&sq),
            c.from_slice(&mb),
            c.from_slice(&ga),
        );
        for g in &grads {
            let h = RmsPropHyper {
                momentum,
                centered,
                ..RmsPropHyper::default()
            };
            Cpu.rmsprop_update(&h, &mut p, g, &mut sq, &mut mb, &mut ga);
            c.rmsprop_update(&h, &mut pd, &c.from_slice(g), &mut sqd, &mut mbd, &mut gad);
        }
        close_all(c, &[(&pd, &p), (&sqd, &sq), (&mbd, &mb), (&gad, &ga)]);
    }
    // Adam, AdamW, AMSGrad
    for (decoupled, amsgrad) in [(false, false), (true, false), (false, true)] {
        let (mut p, mut m, mut v) = (p0.clone(), vec![E::ZERO; n], vec![E::ZERO; n]);
        let mut vm = if amsgrad { vec![E::ZERO; n] } else { vec![] };
        let (mut pd, mut md, mut vd, mut vmd) =
            (c.from_slice(&p), c.from_slice(&m), c.from_slice(&v), c.from_slice(&vm));
        for (t, g) in grads.iter().enumerate() {
            let h = AdamHyper {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.01,
                decoupled,
                amsgrad,
                step: t as u64 + 1,
            };
            Cpu.adam_update(&h, &mut p, g, &mut m, &mut v, &mut vm);
            c.adam_update(&h, &mut pd, &c.from_slice(g), &mut md, &mut vd, &mut vmd);
        }
        close_all(c, &[(&pd, &p), (&md, &m), (&vd, &v), (&vmd, &vm)]);
    }
    // sums, scale, penalties
    let x = data::<E>(300_001, 96);
    let xd = c.from_slice(&x);
    assert_close(&[c.sum_squares(&xd)], &[Cpu.sum_squares(&x)], 1e-12, 0.0);
    assert_close(&[c.sum_abs(&xd)], &[Cpu.sum_abs(&x)], 1e-12, 0.0);
    assert_eq!(c.sum_squares(&xd), c.sum_squares(&xd), "deterministic");
    assert_eq!(c.sum_squares(&c.zeros::<E>(0)), 0.0);
    let (mut y, mut yd) = (x.clone(), c.from_slice(&x));
    Cpu.scale(&mut y, 0.37);
    c.scale(&mut yd, 0.37);
    close(c, &yd, &y);
    let mut w = pos(data::<E>(1000, 97));
    w[3] = E::ZERO;
    w[4] = -w[5];
    for kind in [Penalty::L1, Penalty::L2] {
        let g0 = data::<E>(1000, 98);
        let mut g = g0.clone();
        let mut gd = c.from_slice(&g0);
        Cpu.penalty_grad(kind, 0.3, &w, &mut g);
        c.penalty_grad(kind, 0.3, &c.from_slice(&w), &mut gd);
        close(c, &gd, &g);
    }
}

parity_test!(optimizers_match_cpu: optim_case);
