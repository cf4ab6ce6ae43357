use super::*;
use crate::checkpoint::{self, serialize, CheckpointError};
use crate::module::Module;
use crate::optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
use dl_core::{Cpu, Float, ParamKind, RawParam, Rng};
use safetensors::tensor::Dtype;
use std::collections::HashMap;
use std::path::Path;

/// A module of named runtime parameters, visited in order.
struct Named<E: Float = f64>(Vec<(String, RawParam<Cpu, E>)>);

impl<E: Float> Module<Cpu, E> for Named<E> {
    const NUM_PARAMS: usize = 0;
    fn init_with(_dev: &Cpu, _rng: &mut Rng) -> Self {
        Named(Vec::new())
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<Cpu, E>)) {
        for (n, p) in &self.0 {
            f(&format!("{prefix}{n}"), p);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<Cpu, E>)) {
        for (n, p) in &mut self.0 {
            f(&format!("{prefix}{n}"), p);
        }
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<Cpu, E>)) {
        for (_, p) in &mut self.0 {
            f(p);
        }
    }
}

impl<E: Float> Named<E> {
    fn get(&self, name: &str) -> Vec<E> {
        self.0.iter().find(|(n, _)| n == name).unwrap().1.value_vec()
    }
}

fn param<E: Float>(dims: &[usize], values: &[f64], kind: ParamKind) -> RawParam<Cpu, E> {
    let mut p = RawParam::zeros(&Cpu, dims.to_vec(), kind);
    let v: Vec<E> = values.iter().map(|&x| E::from_f64(x)).collect();
    p.set_value(&v).unwrap();
    p
}

fn random<E: Float>(dims: &[usize], rng: &mut Rng) -> RawParam<Cpu, E> {
    let n: usize = dims.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    param(dims, &v, ParamKind::Trainable)
}

/// fc1 [6, 8] + bias, a buffer, fc2 [4, 6] + bias.
fn mlp<E: Float>(seed: u64) -> Named<E> {
    let mut rng = Rng::new(seed);
    Named(vec![
        ("fc1.weight".into(), random(&[6, 8], &mut rng)),
        ("fc1.bias".into(), random(&[6], &mut rng)),
        ("bn.running_mean".into(), param(&[6], &[0.5; 6], ParamKind::Buffer)),
        ("fc2.weight".into(), random(&[4, 6], &mut rng)),
        ("fc2.bias".into(), random(&[4], &mut rng)),
    ])
}

fn random_grads(model: &mut Named<f64>, rng: &mut Rng) {
    model.for_each_param(&mut |p| {
        let g: Vec<f64> = (0..p.numel()).map(|_| rng.normal()).collect();
        p.grad = g;
    });
}

fn pruned_values(model: &Named<f64>, masks: &PruningMasks<Cpu, f64>) -> Vec<f64> {
    let mut out = Vec::new();
    for name in masks.names() {
        let keep = masks.mask(name).unwrap();
        out.extend(model.get(name).iter().zip(keep).filter(|(_, k)| !**k).map(|(v, _)| *v));
    }
    out
}

/// Steps `opt` with non-zero moments, prunes, zeroes its state, then checks
/// that each further step leaves the pruned weights at exactly zero before
/// any re-masking of the weights.
fn masks_hold<O: Optimizer<Cpu, f64>>(mut opt: O) {
    let mut model = mlp::<f64>(3);
    let mut rng = Rng::new(9);
    for _ in 0..3 {
        random_grads(&mut model, &mut rng);
        opt.step(&mut model);
    }
    let mut masks = magnitude_prune(&mut model, &Selection::weights(), 0.5, Scope::Global).unwrap();
    assert_eq!(masks.num_pruned(), 36);
    masks.zero_optimizer_state(&mut opt).unwrap();
    for step in 0..5 {
        random_grads(&mut model, &mut rng);
        masks.mask_grads(&mut model);
        opt.step(&mut model);
        let pruned = pruned_values(&model, &masks);
        assert!(
            pruned.iter().all(|v| *v == 0.0),
            "step {step} moved a pruned weight: {pruned:?}"
        );
        masks.mask_weights(&mut model);
    }
    // The kept weights did train.
    let kept_moved = model.get("fc1.weight").iter().filter(|v| **v != 0.0).count();
    let pruned_fc1 = masks.mask("fc1.weight").unwrap().iter().filter(|k| !**k).count();
    assert_eq!(kept_moved, 48 - pruned_fc1);
}

#[test]
fn masks_hold_for_sgd_momentum() {
    masks_hold(Sgd::<Cpu, f64>::new(0.1).momentum(0.9).weight_decay(0.01));
    masks_hold(Sgd::<Cpu, f64>::new(0.1).momentum(0.9).nesterov(true));
}

#[test]
fn masks_hold_for_adam_and_adamw() {
    masks_hold(Adam::<Cpu, f64>::new(0.01));
    masks_hold(Adam::<Cpu, f64>::new(0.01).amsgrad(true).weight_decay(0.1));
    masks_hold(AdamW::<Cpu, f64>::new(0.01).weight_decay(0.1));
}

#[test]
fn masks_hold_for_rmsprop_and_adagrad() {
    masks_hold(RmsProp::<Cpu, f64>::new(0.01).momentum(0.9).centered(true));
    masks_hold(RmsProp::<Cpu, f64>::new(0.01));
    masks_hold(Adagrad::<Cpu, f64>::new(0.1).initial_accumulator_value(0.1));
}

/// Without the state zeroed, Adam's moments from before pruning do move a
/// pruned weight: the check above has teeth.
#[test]
fn adam_moments_would_revive_pruned_weights() {
    let mut model = mlp::<f64>(3);
    let mut rng = Rng::new(9);
    let mut opt = Adam::<Cpu, f64>::new(0.01);
    for _ in 0..3 {
        random_grads(&mut model, &mut rng);
        opt.step(&mut model);
    }
    let mut masks = magnitude_prune(&mut model, &Selection::weights(), 0.5, Scope::Global).unwrap();
    random_grads(&mut model, &mut rng);
    masks.mask_grads(&mut model);
    opt.step(&mut model);
    assert!(pruned_values(&model, &masks).iter().any(|v| *v != 0.0));
    masks.mask_weights(&mut model);
    assert!(pruned_values(&model, &masks).iter().all(|v| *v == 0.0));
}

/// The wrapper, with Adam whose moments were non-zero before pruning.
#[test]
fn pruned_wrapper_keeps_weights_at_zero() {
    let mut model = mlp::<f64>(4);
    let mut rng = Rng::new(5);
    let mut opt = Pruned::new(Adam::<Cpu, f64>::new(0.01), ConstantSparsity::new(0.8, 3, 1000));
    opt.validate(&mut model).unwrap();
    for step in 0..10 {
        random_grads(&mut model, &mut rng);
        opt.step(&mut model);
        match opt.masks() {
            None => assert!(step < 3),
            Some(m) => {
                assert!(step >= 3);
                assert_eq!(m.num_pruned(), 58); // round(0.8 * 72)
                assert!(pruned_values(&model, m).iter().all(|v| *v == 0.0));
            }
        }
    }
    // The inner state is zero at pruned positions.
    let masks = opt.masks().unwrap();
    let keep = masks.mask("fc1.weight").unwrap();
    let state = opt.state_dict();
    let (_, _, m) = state.iter().find(|(n, _, _)| n == "state.0.exp_avg").unwrap();
    assert!(m.iter().zip(keep).all(|(v, k)| *k || *v == 0.0));
    assert!(state.iter().any(|(n, _, v)| n == "pruning.step" && v == &vec![10.0]));
    // State dict round trip restores the step count.
    let mut other = Pruned::new(Adam::<Cpu, f64>::new(0.01), ConstantSparsity::new(0.8, 3, 1000));
    other.load_state_dict(&state).unwrap();
    assert_eq!(other.steps(), 10);
}

#[test]
fn pruned_with_fixed_masks_and_polynomial_schedule() {
    let mut model = mlp::<f64>(6);
    let masks = magnitude_prune(&mut model, &Selection::weights(), 0.5, Scope::PerLayer).unwrap();
    let mut opt = Pruned::with_masks(Sgd::<Cpu, f64>::new(0.1).momentum(0.9), masks).unwrap();
    let mut rng = Rng::new(1);
    for _ in 0..4 {
        random_grads(&mut model, &mut rng);
        opt.step(&mut model);
    }
    assert_eq!(measured_sparsity(&model, &Selection::weights()).unwrap(), 0.5);

    let mut model = mlp::<f64>(7);
    let schedule = PolynomialDecay::new(0.0, 0.75, 2, 12).frequency(4);
    let mut opt = Pruned::new(Sgd::<Cpu, f64>::new(0.1), schedule).scope(Scope::PerLayer);
    let mut seen = Vec::new();
    for _ in 0..20 {
        random_grads(&mut model, &mut rng);
        opt.step(&mut model);
        seen.push(opt.masks().map_or(0, PruningMasks::num_pruned));
    }
    // Pruning at steps 2, 6, 10 and 12 (the end step); then fixed.
    let at = |s: u64| {
        let t = schedule.sparsity(s);
        ((t * 48.0).round() + (t * 24.0).round()) as usize
    };
    assert_eq!(seen[2], at(2));
    assert_eq!(seen[5], at(2));
    assert_eq!(seen[6], at(6));
    assert_eq!(seen[10], at(10));
    assert_eq!(seen[12], 36 + 18);
    assert_eq!(seen[19], 54);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn validate_reports_bad_settings() {
    let mut model = mlp::<f64>(1);
    let opt = Pruned::new(Sgd::<Cpu, f64>::new(0.1), ConstantSparsity::one_shot(0.5))
        .selection(Selection::names(["fc3.weight"]));
    let e = opt.validate(&mut model).unwrap_err();
    assert!(e.contains("fc3.weight"), "{e}");
    let opt = Pruned::new(Sgd::<Cpu, f64>::new(0.1), PolynomialDecay::new(0.0, 1.5, 0, 10));
    assert!(opt.validate(&mut model).unwrap_err().contains("final_sparsity"));
    let opt = Pruned::new(Sgd::<Cpu, f64>::new(0.1), PolynomialDecay::new(0.0, 0.5, 10, 5));
    assert!(opt.validate(&mut model).unwrap_err().contains("end_step"));
    let e = PruningMasks::<Cpu, f64>::new(&model, &Selection::names(["bn.running_mean"])).unwrap_err();
    assert!(matches!(e, PruneError::NotPrunable { .. }), "{e}");
    let e = PruningMasks::<Cpu, f64>::new(&model, &Selection::weights().exclude(["nope"])).unwrap_err();
    assert_eq!(e, PruneError::UnknownParam { name: "nope".into() });
    let e = magnitude_prune(&mut model, &Selection::weights(), -0.1, Scope::Global).unwrap_err();
    assert!(matches!(e, PruneError::InvalidConfig(_)));
    // Masks of another model.
    let masks = PruningMasks::<Cpu, f64>::new(&model, &Selection::weights()).unwrap();
    let mut other = Named::<f64>(vec![(
        "fc1.weight".into(),
        param(&[2, 2], &[1.0; 4], ParamKind::Trainable),
    )]);
    assert!(matches!(masks.check(&other), Err(PruneError::MasksMismatch(_))));
    assert!(Pruned::with_masks(Sgd::<Cpu, f64>::new(0.1), masks)
        .unwrap()
        .validate(&mut other)
        .is_err());
}

/// Two tensors with known magnitudes: one global threshold versus one
/// sparsity per tensor; the bias (rank 1) is never selected by default.
#[test]
fn global_and_per_layer_thresholds() {
    let model = || {
        Named::<f32>(vec![
            (
                "a.weight".into(),
                param(
                    &[2, 4],
                    &[1.0, -2.0, 3.0, -4.0, 5.0, -6.0, 7.0, -8.0],
                    ParamKind::Trainable,
                ),
            ),
            ("a.bias".into(), param(&[2], &[0.0, 0.01], ParamKind::Trainable)),
            (
                "b.weight".into(),
                param(&[2, 2], &[-0.5, 100.0, -200.0, 300.0], ParamKind::Trainable),
            ),
        ])
    };
    let mut g = model();
    let masks = magnitude_prune(&mut g, &Selection::weights(), 0.5, Scope::Global).unwrap();
    // 6 of 12: |0.5|, 1..5.
    assert_eq!(g.get("a.weight"), vec![0.0, 0.0, 0.0, 0.0, 0.0, -6.0, 7.0, -8.0]);
    assert_eq!(g.get("b.weight"), vec![0.0, 100.0, -200.0, 300.0]);
    assert_eq!(g.get("a.bias"), vec![0.0, 0.01]);
    assert_eq!(masks.num_pruned(), 6);
    assert_eq!(
        masks.layer_sparsity(),
        vec![("a.weight".to_string(), 5.0 / 8.0), ("b.weight".to_string(), 0.25)]
    );

    let mut p = model();
    let masks = magnitude_prune(&mut p, &Selection::weights(), 0.5, Scope::PerLayer).unwrap();
    assert_eq!(p.get("a.weight"), vec![0.0, 0.0, 0.0, 0.0, 5.0, -6.0, 7.0, -8.0]);
    assert_eq!(p.get("b.weight"), vec![0.0, 0.0, -200.0, 300.0]);
    assert_eq!(masks.sparsity(), 0.5);

    // Masks only grow: a lower target prunes nothing more, a higher one
    // adds the next smallest.
    let mut masks = masks;
    masks.prune(&mut p, 0.25, Scope::PerLayer).unwrap();
    assert_eq!(masks.num_pruned(), 6);
    masks.prune(&mut p, 0.75, Scope::Global).unwrap();
    assert_eq!(p.get("a.weight"), vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -8.0]);
    assert_eq!(p.get("b.weight"), vec![0.0, 0.0, -200.0, 300.0]);

    // Ties are broken by position; an explicit selection.
    let mut t = Named::<f32>(vec![("w".into(), param(&[2, 3], &[1.0; 6], ParamKind::Trainable))]);
    magnitude_prune(&mut t, &Selection::names(["w"]), 0.5, Scope::Global).unwrap();
    assert_eq!(t.get("w"), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
}

#[test]
fn schedule_values() {
    let s = PolynomialDecay::new(0.1, 0.9, 100, 500).frequency(100);
    assert_eq!(s.sparsity(0), 0.1);
    assert_eq!(s.sparsity(100), 0.1);
    // (1 - 0.25)^3 = 0.421875
    assert!((s.sparsity(200) - (0.9 - 0.8 * 0.421875)).abs() < 1e-12);
    assert!((s.sparsity(300) - (0.9 - 0.8 * 0.125)).abs() < 1e-12);
    assert_eq!(s.sparsity(500), 0.9);
    assert_eq!(s.sparsity(10_000), 0.9);
    let steps: Vec<u64> = (0..1000).filter(|&t| s.target(t).is_some()).collect();
    assert_eq!(steps, vec![100, 200, 300, 400, 500]);
    // The end step prunes even off the frequency grid; power 1 is linear.
    let s = PolynomialDecay::new(0.0, 0.8, 0, 10).frequency(4).power(1.0);
    let steps: Vec<(u64, f64)> = (0..20).filter_map(|t| s.target(t).map(|v| (t, v))).collect();
    assert_eq!(steps.len(), 4);
    for ((t, v), (want_t, want_v)) in steps.iter().zip([(0, 0.0), (4, 0.32), (8, 0.64), (10, 0.8)]) {
        assert_eq!(*t, want_t);
        assert!((v - want_v).abs() < 1e-12, "{t}: {v}");
    }
    let c = ConstantSparsity::new(0.5, 10, 5).end_step(20);
    let steps: Vec<u64> = (0..40).filter(|&t| c.target(t).is_some()).collect();
    assert_eq!(steps, vec![10, 15, 20]);
    assert!(ConstantSparsity::new(0.5, 0, 0).validate().is_err());
    assert!(PolynomialDecay::new(0.0, 0.5, 0, 10).power(0.0).validate().is_err());
    assert!(PolynomialDecay::new(0.0, 0.5, 0, 10).validate().is_ok());
}

fn sparse_model<E: Float>(seed: u64) -> (Named<E>, PruningMasks<Cpu, E>) {
    let mut rng = Rng::new(seed);
    let mut m = Named::<E>(vec![
        ("conv.weight".into(), random(&[8, 3, 3, 3], &mut rng)),
        ("conv.bias".into(), random(&[8], &mut rng)),
        ("bn.running_var".into(), param(&[8], &[2.0; 8], ParamKind::Buffer)),
        ("fc.weight".into(), random(&[10, 77], &mut rng)),
        ("fc.bias".into(), random(&[10], &mut rng)),
    ]);
    // A kept weight that is exactly zero must stay a kept weight.
    let mut v = m.0[3].1.value_vec();
    v[769] = E::from_f64(1e6);
    v[768] = E::from_f64(1e6);
    m.0[3].1.set_value(&v).unwrap();
    let masks = magnitude_prune(&mut m, &Selection::weights(), 0.7, Scope::Global).unwrap();
    let mut v = m.0[3].1.value_vec();
    v[769] = E::ZERO;
    m.0[3].1.set_value(&v).unwrap();
    (m, masks)
}

fn round_trip<E: Float>() {
    let (m, masks) = sparse_model::<E>(11);
    let bytes = sparse_to_bytes(&m, &masks).unwrap();
    let (mut other, _) = sparse_model::<E>(12);
    let loaded = load_sparse_from_bytes(&mut other, &bytes).unwrap();
    for (a, b) in m.0.iter().zip(&other.0) {
        let (va, vb) = (a.1.value_vec(), b.1.value_vec());
        assert!(
            va.iter()
                .zip(&vb)
                .all(|(x, y)| x.to_f64().to_bits() == y.to_f64().to_bits()),
            "{}",
            a.0
        );
    }
    assert_eq!(loaded.names().collect::<Vec<_>>(), vec!["conv.weight", "fc.weight"]);
    for n in ["conv.weight", "fc.weight"] {
        assert_eq!(loaded.mask(n), masks.mask(n), "{n}");
    }
    assert!(loaded.mask("fc.weight").unwrap()[769], "a kept zero stays kept");
    assert_eq!(loaded.num_pruned(), masks.num_pruned());
}

#[test]
fn sparse_round_trip_is_exact() {
    round_trip::<f32>();
    round_trip::<f64>();
    // Through a file, and the loaded masks drive an optimizer.
    let (m, masks) = sparse_model::<f64>(13);
    let path = std::env::temp_dir().join(format!("dl-prune-test-{}.safetensors", std::process::id()));
    save_sparse(&m, &masks, &path).unwrap();
    let (mut other, _) = sparse_model::<f64>(14);
    let loaded = load_sparse(&mut other, &path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let mut opt = Pruned::with_masks(Adam::<Cpu, f64>::new(0.1), loaded).unwrap();
    let mut rng = Rng::new(2);
    random_grads(&mut other, &mut rng);
    opt.step(&mut other);
    assert!(pruned_values(&other, opt.masks().unwrap()).iter().all(|v| *v == 0.0));
}

#[test]
fn sparse_file_is_over_five_times_smaller_at_90_percent() {
    // The mnist_cnn's fc1 and conv2 sizes.
    let mut rng = Rng::new(0);
    let mut m = Named::<f32>(vec![
        ("conv2.weight".into(), random(&[64, 32, 3, 3], &mut rng)),
        ("conv2.bias".into(), random(&[64], &mut rng)),
        ("fc1.weight".into(), random(&[128, 1600], &mut rng)),
        ("fc1.bias".into(), random(&[128], &mut rng)),
    ]);
    let masks = magnitude_prune(&mut m, &Selection::weights(), 0.9, Scope::Global).unwrap();
    let dense = checkpoint::save_to_bytes(&m).unwrap().len();
    let sparse = sparse_to_bytes(&m, &masks).unwrap().len();
    let ratio = dense as f64 / sparse as f64;
    assert!(ratio >= 5.0, "dense {dense} / sparse {sparse} = {ratio:.2}");
    assert!(ratio < 8.0, "{ratio}: 0.525 bytes per element is the floor");
}

/// Rewrites a sparse file: `edit` changes its entries (name -> (dtype, dims, bytes)).
fn tampered(edit: impl FnOnce(&mut HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let (m, masks) = sparse_model::<f32>(21);
    let bytes = sparse_to_bytes(&m, &masks).unwrap();
    let parsed = crate::checkpoint::parse(Path::new("x"), &bytes).unwrap();
    let mut map: HashMap<String, (Dtype, Vec<usize>, Vec<u8>)> = parsed
        .tensors
        .iter()
        .map(|(n, v)| (n.clone(), (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    let meta = parsed.meta.clone();
    edit(&mut map);
    let entries: Vec<_> = map.into_iter().map(|(n, (d, s, b))| (n, d, s, b)).collect();
    serialize(&entries, meta, Path::new("x")).unwrap()
}

fn load_err(bytes: &[u8]) -> CheckpointError {
    let (mut m, _) = sparse_model::<f32>(22);
    let before = m.get("fc.weight");
    let e = load_sparse_from_bytes(&mut m, bytes).unwrap_err();
    assert_eq!(m.get("fc.weight"), before, "the model is unchanged on error");
    e
}

#[test]
fn bad_sparse_files_are_typed_errors() {
    // A dense checkpoint.
    let (m, _) = sparse_model::<f32>(21);
    let dense = checkpoint::save_to_bytes(&m).unwrap();
    assert!(matches!(load_err(&dense), CheckpointError::Format { .. }));
    // Truncated.
    let (m, masks) = sparse_model::<f32>(21);
    let good = sparse_to_bytes(&m, &masks).unwrap();
    assert!(matches!(
        load_err(&good[..good.len() - 3]),
        CheckpointError::Truncated { .. }
    ));
    assert!(matches!(load_err(&good[..5]), CheckpointError::Truncated { .. }));
    // A mask of the wrong length.
    let e = load_err(&tampered(|m| {
        let e = m.get_mut("fc.weight#mask").unwrap();
        e.2.pop();
        e.1 = vec![e.2.len()];
    }));
    assert!(
        matches!(&e, CheckpointError::Sparse { name, .. } if name == "fc.weight"),
        "{e}"
    );
    // One more bit set than there are values.
    let e = load_err(&tampered(|m| {
        let e = m.get_mut("fc.weight#mask").unwrap();
        let i = e.2.iter().position(|b| *b != 0xff).unwrap();
        let bit = (0..8).find(|b| e.2[i] >> b & 1 == 0).unwrap();
        e.2[i] |= 1 << bit;
    }));
    assert!(
        matches!(&e, CheckpointError::Sparse { msg, .. } if msg.contains("keeps")),
        "{e}"
    );
    // A padding bit (770 elements: 2 bits used in the last byte).
    let e = load_err(&tampered(|m| {
        let e = m.get_mut("fc.weight#mask").unwrap();
        *e.2.last_mut().unwrap() |= 0x80;
    }));
    assert!(
        matches!(&e, CheckpointError::Sparse { msg, .. } if msg.contains("past")),
        "{e}"
    );
    // Missing values.
    let e = load_err(&tampered(|m| {
        m.remove("conv.weight#values");
    }));
    assert!(
        matches!(&e, CheckpointError::Sparse { name, .. } if name == "conv.weight"),
        "{e}"
    );
    // Values of an unsupported dtype.
    let e = load_err(&tampered(|m| {
        m.get_mut("conv.weight#values").unwrap().0 = Dtype::I32;
    }));
    assert!(matches!(e, CheckpointError::UnsupportedDType { .. }), "{e}");
    // A dense tensor missing, an extra one.
    let e = load_err(&tampered(|m| {
        let b = m.remove("fc.bias").unwrap();
        m.insert("fc.extra".into(), b);
    }));
    assert!(
        matches!(&e, CheckpointError::Mismatch { missing, unexpected, .. } if missing == &["fc.bias"] && unexpected == &["fc.extra"]),
        "{e}"
    );
    // A model of another shape.
    let mut other = Named::<f32>(vec![(
        "fc.weight".into(),
        param(&[10, 76], &[0.0; 760], ParamKind::Trainable),
    )]);
    let e = load_sparse_from_bytes(&mut other, &good).unwrap_err();
    assert!(matches!(e, CheckpointError::Mismatch { .. }), "{e}");
    // Masks that do not fit the model being saved.
    let small = Named::<f32>(vec![(
        "fc.weight".into(),
        param(&[2, 2], &[1.0; 4], ParamKind::Trainable),
    )]);
    assert!(matches!(
        sparse_to_bytes(&small, &masks),
        Err(CheckpointError::Sparse { .. })
    ));
    // An unwritable path.
    assert!(matches!(
        save_sparse(&m, &masks, "/nonexistent-dir/x.safetensors"),
        Err(CheckpointError::Io { .. })
    ));
}

/// conv1 [4, 2, 3, 3] -> bn [4] -> conv2 [3, 4, 3, 3] -> flatten (2x2) -> fc [5, 12].
fn conv_net(out1: usize, out2: usize, seed: u64) -> Named<f32> {
    let mut rng = Rng::new(seed);
    let seq = |n: usize, base: f64| -> Vec<f64> { (0..n).map(|i| base + i as f64).collect() };
    Named(vec![
        ("conv1.weight".into(), random(&[out1, 2, 3, 3], &mut rng)),
        (
            "conv1.bias".into(),
            param(&[out1], &seq(out1, 0.0), ParamKind::Trainable),
        ),
        (
            "bn.weight".into(),
            param(&[out1], &seq(out1, 10.0), ParamKind::Trainable),
        ),
        ("bn.bias".into(), param(&[out1], &seq(out1, 20.0), ParamKind::Trainable)),
        (
            "bn.running_mean".into(),
            param(&[out1], &seq(out1, 30.0), ParamKind::Buffer),
        ),
        (
            "bn.running_var".into(),
            param(&[out1], &seq(out1, 40.0), ParamKind::Buffer),
        ),
        ("conv2.weight".into(), random(&[out2, out1, 3, 3], &mut rng)),
        (
            "conv2.bias".into(),
            param(&[out2], &seq(out2, 50.0), ParamKind::Trainable),
        ),
        (
            "fc.weight".into(),
            param(&[5, out2 * 4], &seq(5 * out2 * 4, 0.0), ParamKind::Trainable),
        ),
        ("fc.bias".into(), param(&[5], &seq(5, 60.0), ParamKind::Trainable)),
    ])
}

#[test]
fn channel_pruning_copies_the_strongest_channels() {
    let mut big = conv_net(4, 3, 1);
    // conv1 channel L1 norms: make channels 1 and 3 the strongest.
    let mut w = big.get("conv1.weight");
    for (c, scale) in [0.1f32, 3.0, 0.2, 2.0].iter().enumerate() {
        w[c * 18..(c + 1) * 18]
            .iter_mut()
            .for_each(|v| *v = *scale * v.signum());
    }
    big.0[0].1.set_value(&w).unwrap();
    let mut w2 = big.get("conv2.weight");
    for (c, scale) in [1.0f32, 0.1, 5.0].iter().enumerate() {
        w2[c * 36..(c + 1) * 36]
            .iter_mut()
            .for_each(|v| *v = *scale * v.signum());
    }
    big.0[6].1.set_value(&w2).unwrap();
    let norms = channel_l1_norms(&big, "conv1").unwrap();
    assert!(
        (norms[1] - 54.0).abs() < 1e-4 && (norms[0] - 1.8).abs() < 1e-4,
        "{norms:?}"
    );

    let mut small = conv_net(2, 2, 2);
    let pairs = [ChannelPair::new("conv1", "conv2").norm("bn"), ("conv2", "fc").into()];
    let report = prune_channels(&big, &mut small, &pairs).unwrap();
    assert_eq!(report.kept("conv1"), Some(&[1, 3][..]));
    assert_eq!(report.kept("conv2"), Some(&[0, 2][..]));
    assert_eq!(small.get("conv1.weight"), [&w[18..36], &w[54..72]].concat());
    assert_eq!(small.get("conv1.bias"), vec![1.0, 3.0]);
    assert_eq!(small.get("bn.weight"), vec![11.0, 13.0]);
    assert_eq!(small.get("bn.bias"), vec![21.0, 23.0]);
    assert_eq!(small.get("bn.running_mean"), vec![31.0, 33.0]);
    assert_eq!(small.get("bn.running_var"), vec![41.0, 43.0]);
    // conv2: rows 0 and 2, and within each the input channels 1 and 3.
    let mut want = Vec::new();
    for r in [0, 2] {
        for c in [1, 3] {
            want.extend_from_slice(&w2[r * 36 + c * 9..r * 36 + (c + 1) * 9]);
        }
    }
    assert_eq!(small.get("conv2.weight"), want);
    assert_eq!(small.get("conv2.bias"), vec![50.0, 52.0]);
    // fc after a 2x2 flatten: feature blocks 0 and 2 of each row.
    let fc = big.get("fc.weight");
    let want: Vec<f32> = (0..5)
        .flat_map(|r| [&fc[r * 12..r * 12 + 4], &fc[r * 12 + 8..r * 12 + 12]].concat())
        .collect();
    assert_eq!(small.get("fc.weight"), want);
    assert_eq!(small.get("fc.bias"), big.get("fc.bias"));
}

#[test]
fn channel_pruning_errors() {
    let big = conv_net(4, 3, 1);
    let pairs: Vec<ChannelPair> = vec![ChannelPair::new("conv1", "conv2").norm("bn"), ("conv2", "fc").into()];
    // The destination's fc does not match the kept conv2 channels.
    let mut bad = conv_net(2, 2, 2);
    bad.0[8].1 = param(&[5, 12], &[0.0; 60], ParamKind::Trainable);
    let before = bad.get("conv1.weight");
    let e = prune_channels(&big, &mut bad, &pairs).unwrap_err();
    assert!(
        matches!(&e, PruneError::ShapeMismatch { name, expected, found, .. } if name == "fc.weight" && expected == &[5, 8] && found == &[5, 12]),
        "{e}"
    );
    assert_eq!(bad.get("conv1.weight"), before, "unchanged on error");
    // Forgetting the norm leaves bn with 4 channels.
    let mut small = conv_net(2, 2, 2);
    let e = prune_channels(&big, &mut small, &[("conv1", "conv2").into(), ("conv2", "fc").into()]).unwrap_err();
    assert!(
        matches!(&e, PruneError::ShapeMismatch { name, .. } if name.starts_with("bn.")),
        "{e}"
    );
    // Unknown layer, layer pruned twice, networks with other names.
    let e = prune_channels(&big, &mut small, &[("conv9", "conv2").into()]).unwrap_err();
    assert_eq!(
        e,
        PruneError::UnknownParam {
            name: "conv9.weight".into()
        }
    );
    let e = prune_channels(&big, &mut small, &[("conv1", "conv2").into(), ("conv1", "fc").into()]).unwrap_err();
    assert!(matches!(e, PruneError::InvalidConfig(_)));
    let mut other = Named::<f32>(vec![(
        "fc.weight".into(),
        param(&[5, 8], &[0.0; 40], ParamKind::Trainable),
    )]);
    let e = prune_channels(&big, &mut other, &pairs).unwrap_err();
    assert!(
        matches!(&e, PruneError::NamesDiffer { missing_in_destination, .. } if missing_in_destination.len() == 9),
        "{e}"
    );
    // Keeping more channels than the source has.
    let mut wide = conv_net(5, 3, 2);
    let e = prune_channels(&big, &mut wide, &[ChannelPair::new("conv1", "conv2").norm("bn")]).unwrap_err();
    assert!(
        matches!(&e, PruneError::ShapeMismatch { name, .. } if name == "conv1.weight"),
        "{e}"
    );
}
