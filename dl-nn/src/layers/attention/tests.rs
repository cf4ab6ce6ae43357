use super::*;
use crate::layers::test_util::{check_layer, randomise, state_dict};
use crate::module::{Layer, Module};
use dl_core::gradcheck::{check_gradient, GradCheck};
use dl_core::ops::util::testing::assert_close;
use dl_core::GemmWorkspace;
use dl_core::{Cpu, ParamKind, Rng, S2};

fn randv(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| rng.normal()).collect()
}

fn masks() -> Vec<AttnMask> {
    AttnMask::combinations(&[1])
}

/// Independent reference: loops, `-inf` for masked logits, `f64`.
fn sdpa_reference(d: SdpaDims, q: &[f64], k: &[f64], v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; d.count * d.tq * d.dv];
    for c in 0..d.count {
        for i in 0..d.tq {
            let logits: Vec<f64> = (0..d.tk)
                .map(|j| {
                    if !d.mask.allows(i, j) {
                        return f64::NEG_INFINITY;
                    }
                    let qi = &q[(c * d.tq + i) * d.d..][..d.d];
                    let kj = &k[(c * d.tk + j) * d.d..][..d.d];
                    d.scale * qi.iter().zip(kj).map(|(a, b)| a * b).sum::<f64>()
                })
                .collect();
            let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                continue; // no visible key: documented zero row
            }
            let z: f64 = logits.iter().map(|l| (l - m).exp()).sum();
            for j in 0..d.tk {
                let p = (logits[j] - m).exp() / z;
                for e in 0..d.dv {
                    out[(c * d.tq + i) * d.dv + e] += p * v[(c * d.tk + j) * d.dv + e];
                }
            }
        }
    }
    out
}

fn dims(tq: usize, tk: usize, mask: AttnMask) -> SdpaDims {
    SdpaDims {
        count: 3,
        tq,
        tk,
        d: 4,
        dv: 3,
        scale: 0.5,
        mask,
    }
}

#[test]
fn sdpa_forward_matches_reference() {
    let mut rng = Rng::new(11);
    for (tq, tk) in [(5, 5), (4, 6), (6, 4)] {
        for mask in masks() {
            let d = dims(tq, tk, mask);
            let q = randv(&mut rng, d.count * tq * d.d);
            let k = randv(&mut rng, d.count * tk * d.d);
            let v = randv(&mut rng, d.count * tk * d.dv);
            let (mut p, mut out) = (vec![], vec![]);
            sdpa_forward(&Cpu, &mut GemmWorkspace::new(), d, &q, &k, &v, &mut p, &mut out);
            assert_close(&out, &sdpa_reference(d, &q, &k, &v), 1e-12, 1e-13);
        }
    }
}

#[test]
fn sdpa_gradient_check_q_k_v() {
    let mut rng = Rng::new(12);
    for (tq, tk) in [(5, 5), (4, 6)] {
        for mask in masks() {
            let d = dims(tq, tk, mask);
            let q = randv(&mut rng, d.count * tq * d.d);
            let k = randv(&mut rng, d.count * tk * d.d);
            let v = randv(&mut rng, d.count * tk * d.dv);
            let g: Vec<f64> = (0..d.count * tq * d.dv).map(|i| (i as f64 * 0.61).sin()).collect();
            let (mut dq, mut dk, mut dv) = (vec![], vec![], vec![]);
            sdpa_forward_backward(
                &Cpu,
                &mut GemmWorkspace::new(),
                d,
                [&q, &k, &v],
                &g,
                [&mut dq, &mut dk, &mut dv],
            );
            let loss = |q: &[f64], k: &[f64], v: &[f64]| {
                let (mut p, mut out) = (vec![], vec![]);
                sdpa_forward(
                    &Cpu,
                    &mut GemmWorkspace::new(),
                    d,
                    &q.to_vec(),
                    &k.to_vec(),
                    &v.to_vec(),
                    &mut p,
                    &mut out,
                );
                out.iter().zip(&g).map(|(a, b)| a * b).sum::<f64>()
            };
            let opts = GradCheck::default();
            check_gradient(|x| loss(x, &k, &v), &q, &dq, opts).unwrap_or_else(|e| panic!("dq {mask:?}: {e}"));
            check_gradient(|x| loss(&q, x, &v), &k, &dk, opts).unwrap_or_else(|e| panic!("dk {mask:?}: {e}"));
            check_gradient(|x| loss(&q, &k, x), &v, &dv, opts).unwrap_or_else(|e| panic!("dv {mask:?}: {e}"));
        }
    }
}

#[test]
fn typed_sdpa_matches_flat_and_checks_input() {
    let mut rng = Rng::new(13);
    let q = Tensor::<S2<3, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let k = Tensor::<S2<5, 4>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let v = Tensor::<S2<5, 2>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let opts = SdpaOptions {
        scale: None,
        mask: AttnMask {
            causal: true,
            window: None,
        },
    };
    let out = scaled_dot_product_attention(&q, &k, &v, opts).unwrap();
    let d = SdpaDims {
        count: 2,
        tq: 3,
        tk: 5,
        d: 4,
        dv: 2,
        scale: 0.5,
        mask: opts.mask,
    };
    assert_close(
        &out.to_vec(),
        &sdpa_reference(d, &q.to_vec(), &k.to_vec(), &v.to_vec()),
        1e-12,
        1e-13,
    );
    let dout = Tensor::<S2<3, 2>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let (dq, dk, dv) = scaled_dot_product_attention_backward(&q, &k, &v, opts, &dout).unwrap();
    let loss = |q: &[f64], k: &[f64], v: &[f64]| {
        sdpa_reference(d, q, k, v)
            .iter()
            .zip(dout.to_vec())
            .map(|(a, b)| a * b)
            .sum::<f64>()
    };
    let (qv, kv, vv) = (q.to_vec(), k.to_vec(), v.to_vec());
    let o = GradCheck::default();
    check_gradient(|x| loss(x, &kv, &vv), &qv, &dq.to_vec(), o).unwrap();
    check_gradient(|x| loss(&qv, x, &vv), &kv, &dk.to_vec(), o).unwrap();
    check_gradient(|x| loss(&qv, &kv, x), &vv, &dv.to_vec(), o).unwrap();
    // Bad input: batch mismatch, non-finite scale.
    let k1 = Tensor::<S2<5, 4>, Cpu, f64>::randn(&Cpu, 1, &mut rng);
    assert!(matches!(
        scaled_dot_product_attention(&q, &k1, &v, opts),
        Err(dl_core::Error::ShapeMismatch { .. })
    ));
    let bad = SdpaOptions {
        scale: Some(f64::NAN),
        ..opts
    };
    assert!(matches!(
        scaled_dot_product_attention(&q, &k, &v, bad),
        Err(dl_core::Error::InvalidArgument { .. })
    ));
    let dout1 = Tensor::<S2<3, 2>, Cpu, f64>::randn(&Cpu, 1, &mut rng);
    assert!(scaled_dot_product_attention_backward(&q, &k, &v, opts, &dout1).is_err());
}

#[test]
fn mha_dims_validate() {
    let mut d = MhaDims {
        n: 1,
        t: 2,
        d_model: 6,
        heads: 4,
        mask: AttnMask::default(),
    };
    assert!(d.validate().is_err());
    d.heads = 0;
    assert!(d.validate().is_err());
    d.heads = 3;
    assert!(d.validate().is_ok());
    assert_eq!(d.head_dim(), 2);
}

/// Independent multi-head reference (loops over heads, no head split).
fn mha_reference<const D: usize, const H: usize, const C: bool>(
    m: &MultiHeadAttention<D, H, C, Cpu, f64>,
    n: usize,
    t: usize,
    x: &[f64],
    mask: AttnMask,
) -> Vec<f64> {
    let (w, b) = (m.in_proj_weight.value_vec(), m.in_proj_bias.value_vec());
    let (wo, bo) = (m.out_proj.weight.value_vec(), m.out_proj.bias.value_vec());
    let dh = D / H;
    let proj = |row: &[f64], o: usize| b[o] + (0..D).map(|i| row[i] * w[o * D + i]).sum::<f64>();
    let mut concat = vec![0.0; n * t * D];
    for s in 0..n {
        let xs = |i: usize| &x[(s * t + i) * D..][..D];
        for h in 0..H {
            for i in 0..t {
                let q: Vec<f64> = (0..dh).map(|e| proj(xs(i), h * dh + e)).collect();
                let logits: Vec<f64> = (0..t)
                    .map(|j| {
                        if !mask.allows(i, j) {
                            return f64::NEG_INFINITY;
                        }
                        let kd: f64 = (0..dh).map(|e| q[e] * proj(xs(j), D + h * dh + e)).sum();
                        kd / (dh as f64).sqrt()
                    })
                    .collect();
                let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = logits.iter().map(|l| (l - mx).exp()).sum();
                for (j, l) in logits.iter().enumerate() {
                    let p = (l - mx).exp() / z;
                    for e in 0..dh {
                        concat[(s * t + i) * D + h * dh + e] += p * proj(xs(j), 2 * D + h * dh + e);
                    }
                }
            }
        }
    }
    let mut y = vec![0.0; n * t * D];
    for r in 0..n * t {
        for o in 0..D {
            y[r * D + o] = bo[o] + (0..D).map(|i| concat[r * D + i] * wo[o * D + i]).sum::<f64>();
        }
    }
    y
}

#[test]
fn mha_forward_matches_reference() {
    let mut rng = Rng::new(14);
    let mut m = MultiHeadAttention::<8, 2, false, Cpu, f64>::init_with(&Cpu, &mut rng);
    randomise(&mut m, &mut rng, 0.5);
    let x = Tensor::<S2<5, 8>, Cpu, f64>::randn(&Cpu, 3, &mut rng);
    let y = m.forward(&x).to_vec();
    assert_close(
        &y,
        &mha_reference(&m, 3, 5, &x.to_vec(), AttnMask::default()),
        1e-12,
        1e-12,
    );
    let mut mc = MultiHeadAttention::<8, 2, true, Cpu, f64>::init_with(&Cpu, &mut rng);
    randomise(&mut mc, &mut rng, 0.5);
    let causal = AttnMask {
        causal: true,
        window: None,
    };
    assert_close(
        &mc.forward(&x).to_vec(),
        &mha_reference(&mc, 3, 5, &x.to_vec(), causal),
        1e-12,
        1e-12,
    );
    // LocalAttention with the same weights is the windowed reference.
    let mut la = LocalAttention::<8, 2, 1, Cpu, f64>::init_with(&Cpu, &mut rng);
    la.in_proj_weight = m.in_proj_weight.clone();
    la.in_proj_bias = m.in_proj_bias.clone();
    la.out_proj = m.out_proj.clone();
    let local = AttnMask {
        causal: false,
        window: Some(1),
    };
    assert_close(
        &la.forward(&x).to_vec(),
        &mha_reference(&m, 3, 5, &x.to_vec(), local),
        1e-12,
        1e-12,
    );
}

#[test]
fn gradient_checks_of_the_layers() {
    let mut rng = Rng::new(15);
    let x = Tensor::<S2<4, 6>, Cpu, f64>::randn(&Cpu, 2, &mut rng);
    let mut m = MultiHeadAttention::<6, 3, false, Cpu, f64>::init_with(&Cpu, &mut rng);
    randomise(&mut m, &mut rng, 0.5);
    assert_eq!(check_layer(&m, &x, true), 4);
    let mut mc = MultiHeadAttention::<6, 2, true, Cpu, f64>::init_with(&Cpu, &mut rng);
    randomise(&mut mc, &mut rng, 0.5);
    assert_eq!(check_layer(&mc, &x, true), 4);
    let mut la = LocalAttention::<6, 1, 1, Cpu, f64>::init_with(&Cpu, &mut rng);
    randomise(&mut la, &mut rng, 0.5);
    assert_eq!(check_layer(&la, &x, true), 4);
}

/// Changing a token changes only the outputs of queries that may see it.
#[test]
fn masks_limit_what_each_query_sees() {
    let mut rng = Rng::new(16);
    let x = Tensor::<S2<6, 4>, Cpu, f64>::randn(&Cpu, 1, &mut rng);
    let mut x2 = x.to_vec();
    let changed = 4;
    x2[changed * 4..(changed + 1) * 4].iter_mut().for_each(|v| *v += 1.0);
    let x2 = Tensor::<S2<6, 4>, Cpu, f64>::from_vec(&Cpu, 1, x2).unwrap();
    let diff_rows = |a: Vec<f64>, b: Vec<f64>| -> Vec<usize> {
        (0..6)
            .filter(|&i| (0..4).any(|e| (a[i * 4 + e] - b[i * 4 + e]).abs() > 1e-12))
            .collect()
    };
    let mc = MultiHeadAttention::<4, 2, true, Cpu, f64>::init_with(&Cpu, &mut rng);
    assert_eq!(diff_rows(mc.forward(&x).to_vec(), mc.forward(&x2).to_vec()), vec![4, 5]);
    let la = LocalAttention::<4, 2, 1, Cpu, f64>::init_with(&Cpu, &mut rng);
    assert_eq!(
        diff_rows(la.forward(&x).to_vec(), la.forward(&x2).to_vec()),
        vec![3, 4, 5]
    );
    let m = MultiHeadAttention::<4, 2, false, Cpu, f64>::init_with(&Cpu, &mut rng);
    assert_eq!(diff_rows(m.forward(&x).to_vec(), m.forward(&x2).to_vec()).len(), 6);
}

#[test]
fn state_dict_names_shapes_and_init() {
    let m = MultiHeadAttention::<8, 2>::init(&Cpu, 0);
    let names = state_dict(&m, "attn.");
    let t = ParamKind::Trainable;
    assert_eq!(
        names,
        vec![
            ("attn.in_proj_weight".into(), vec![24, 8], t),
            ("attn.in_proj_bias".into(), vec![24], t),
            ("attn.out_proj.weight".into(), vec![8, 8], t),
            ("attn.out_proj.bias".into(), vec![8], t),
        ]
    );
    assert_eq!(
        <MultiHeadAttention<8, 2> as Module<Cpu, f32>>::NUM_PARAMS,
        24 * 8 + 24 + 64 + 8
    );
    let bound = (6.0f64 / (8.0 + 24.0)).sqrt() as f32;
    let w = m.in_proj_weight.value_vec();
    assert!(w.iter().all(|v| v.abs() <= bound));
    assert!(
        w.iter().any(|v| v.abs() > 0.8 * bound),
        "xavier bound {bound} not reached"
    );
    assert!(m.in_proj_bias.value_vec().iter().all(|&v| v == 0.0));
    assert!(m.out_proj.bias.value_vec().iter().all(|&v| v == 0.0));
    let wo = m.out_proj.weight.value_vec();
    assert!(wo.iter().all(|v| v.abs() <= 1.0 / 8f32.sqrt()));
    // Seeded: the same seed gives the same parameters.
    let m2 = MultiHeadAttention::<8, 2>::init(&Cpu, 0);
    assert_eq!(m2.in_proj_weight.value_vec(), w);
}

/// After a warm-up step, training steps with the same batch reuse every buffer.
#[test]
fn training_steps_reuse_buffers() {
    let mut rng = Rng::new(17);
    let mut m = MultiHeadAttention::<8, 2, true>::init_with(&Cpu, &mut rng);
    let x = Tensor::<S2<5, 8>>::randn(&Cpu, 3, &mut rng);
    let dy = Tensor::<S2<5, 8>>::randn(&Cpu, 3, &mut rng);
    let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
    let mut cache = <MultiHeadAttention<8, 2, true> as Layer<S2<5, 8>, S2<5, 8>, Cpu, f32>>::new_cache(&Cpu);
    let ptrs = |c: &AttentionCache<Cpu, f32>| {
        [
            c.fwd.qkv.as_ptr(),
            c.fwd.q.as_ptr(),
            c.fwd.p.as_ptr(),
            c.fwd.concat.as_ptr(),
            c.work.dp.as_ptr(),
            c.work.dqkv.as_ptr(),
        ]
    };
    m.forward_train_into(&x, &mut out, &mut cache);
    m.backward_into(&x, &out, &mut cache, &dy, &mut dx);
    let before = (ptrs(&cache), out.as_slice().as_ptr(), dx.as_slice().as_ptr());
    let first = out.to_vec();
    m.forward_train_into(&x, &mut out, &mut cache);
    m.backward_into(&x, &out, &mut cache, &dy, &mut dx);
    assert_eq!(before, (ptrs(&cache), out.as_slice().as_ptr(), dx.as_slice().as_ptr()));
    assert_eq!(first, out.to_vec());
    assert!(out.all_finite() && dx.all_finite());
}
