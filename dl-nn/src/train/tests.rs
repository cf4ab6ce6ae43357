//! End-to-end tests of `fit`, `evaluate`, `predict` and the callbacks on a
//! hand-written MLP and a synthetic, separable data set.

use super::progress::tests::SharedBuf;
use super::test_util::{Blobs, Ce, Mlp};
use super::*;
use crate::data::Dataset;
use crate::loss::CrossEntropy;
use crate::module::Module;
use crate::optim::Sgd;
use dl_core::{Cpu, Rng};
use std::sync::Arc;

type Net = Mlp<8, 16, 4>;

fn net(seed: u64) -> Net {
    Net::init(&Cpu, seed)
}
fn train_set() -> Arc<Blobs> {
    Arc::new(Blobs::new(400, 8, 4, 0.7, 1))
}
fn test_set() -> Arc<Blobs> {
    Arc::new(Blobs::new(200, 8, 4, 0.7, 2))
}
/// The training and test sets and a network (seed 0).
fn setup() -> (Arc<Blobs>, Arc<Blobs>, Net) {
    (train_set(), test_set(), net(0))
}
fn cfg<'a>(lr: f64) -> FitConfig<'a, Net, Sgd, Ce> {
    cfg_with(lr, Ce::default())
}
/// Quiet SGD at `lr` on `loss` (a [`Ce`] with a fault injected).
fn cfg_with<'a>(lr: f64, loss: Ce) -> FitConfig<'a, Net, Sgd, Ce> {
    FitConfig::new(Sgd::new(lr), loss).quiet(true)
}
/// [`cfg_with`] at lr 0.2 for 5 epochs validated on `test`, with every
/// parameter zeroed from epoch `from` on (see [`Wreck`]).
fn wrecked<'a>(loss: Ce, test: &Arc<Blobs>, from: usize) -> FitConfig<'a, Net, Sgd, Ce> {
    cfg_with(0.2, loss).epochs(5).validation(test).callback(Wreck { from })
}
fn params(m: &Net) -> Vec<Vec<f32>> {
    let mut v = Vec::new();
    m.visit("", &mut |_, p| v.push(p.value_vec()));
    v
}

#[test]
fn converges_on_separable_data_and_figures_are_consistent() {
    let (train, test, mut m) = setup();
    let before = m.evaluate(&test, &Ce::default(), 64).unwrap();
    let h = m
        .fit(
            &train,
            cfg(0.2).epochs(8).batch_size(32).validation(&test).shuffle_seed(3),
        )
        .unwrap();
    assert_eq!(h.epochs.len(), 8);
    let last = h.last().unwrap();
    assert!(last.val_accuracy.unwrap() >= 0.95, "{h}");
    assert!(last.train_loss < 0.5 * h.epochs[0].train_loss, "{h}");
    assert!(last.val_loss.unwrap() < 0.5 * before.loss, "{h} (before: {before})");
    for (i, e) in h.epochs.iter().enumerate() {
        assert_eq!(e.epoch, i);
        assert_eq!(e.samples, 400);
        assert_eq!(e.skipped_steps, 0);
        assert_eq!(e.lr, 0.2);
        assert!(e.seconds > 0.0 && e.samples_per_sec > 0.0);
        assert!((0.0..=1.0).contains(&e.train_accuracy));
    }
    // The last validation figures are what `evaluate` gives afterwards
    // (same model, evaluation mode, same batches).
    let after = m.evaluate(&test, &Ce::default(), 32).unwrap();
    assert_eq!(after.loss, last.val_loss.unwrap());
    assert_eq!(after.accuracy, last.val_accuracy.unwrap());
    assert_eq!(after.samples, 200);
    // Predictions agree with the evaluation's accuracy.
    let pred = m.predict(&test, 50).unwrap();
    assert_eq!(pred.len(), 200);
    assert_eq!(pred.outputs.len(), 200 * 4);
    let correct = pred.classes.iter().zip(&test.y).filter(|(a, b)| a == b).count();
    assert_eq!(correct as f64 / 200.0, after.accuracy);
    let o = pred.output(7).unwrap();
    let argmax = (0..4).max_by(|&a, &b| o[a].partial_cmp(&o[b]).unwrap()).unwrap();
    assert_eq!(pred.classes[7], argmax);
    assert!(pred.output(200).is_none());
}

#[test]
fn train_loss_is_the_sample_weighted_mean() {
    // With lr 0 the model does not change: the epoch's training loss and
    // accuracy (uneven batches: 400 = 3 * 128 + 16) equal `evaluate`'s.
    let train = train_set();
    let mut m = net(4);
    let h = m.fit(&train, cfg(0.0).epochs(1).batch_size(128)).unwrap();
    let e = m.evaluate(&train, &Ce::default(), 400).unwrap();
    let r = &h.epochs[0];
    assert!((r.train_loss - e.loss).abs() < 1e-6, "{} vs {}", r.train_loss, e.loss);
    assert_eq!(r.train_accuracy, e.accuracy);
    // drop_last leaves the 16 out.
    let h = m.fit(&train, cfg(0.0).batch_size(128).drop_last(true)).unwrap();
    assert_eq!(h.epochs[0].samples, 384);
}

#[test]
fn training_and_evaluation_modes() {
    let (train, test, mut m) = setup();
    // 400 / 64 = 7 steps, 200 / 64 = 4 validation batches, per epoch.
    m.fit(&train, cfg(0.1).epochs(3).batch_size(64).validation(&test))
        .unwrap();
    assert_eq!(m.train_calls, 21);
    assert_eq!(m.eval_calls, 12);
    assert!(!m.training, "fit leaves the model in evaluation mode");
    m.set_training(true);
    m.predict(&test, 100).unwrap();
    assert!(!m.training);
    assert_eq!((m.train_calls, m.eval_calls), (21, 14));
}

#[test]
fn seeded_runs_are_reproducible() {
    let train = train_set();
    let run = |seed: u64| {
        let mut m = net(0);
        let h = m
            .fit(&train, cfg(0.1).epochs(2).batch_size(50).shuffle_seed(seed))
            .unwrap();
        (h.train_loss(), params(&m))
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5).1, run(6).1);
}

#[test]
fn early_stopping_stops() {
    let (train, test, mut m) = setup();
    // lr 0: the validation loss never improves after epoch 0.
    let mut es = EarlyStopping::new(Monitor::ValLoss).patience(2);
    let h = m
        .fit(&train, cfg(0.0).epochs(10).validation(&test).callback(&mut es))
        .unwrap();
    assert_eq!(h.epochs.len(), 3);
    assert_eq!(es.stopped_epoch(), Some(2));
    assert!(h.stopped_early.as_deref().unwrap().contains("val_loss"), "{h}");
    // While it improves, it does not stop.
    let mut es = EarlyStopping::new(Monitor::ValAccuracy).patience(5);
    let h = m
        .fit(&train, cfg(0.2).epochs(4).validation(&test).callback(&mut es))
        .unwrap();
    assert_eq!(h.epochs.len(), 4);
    assert_eq!(h.stopped_early, None);
    // Monitoring validation figures without a validation set is an error.
    let e = m
        .fit(
            &train,
            cfg(0.1).epochs(2).callback(EarlyStopping::new(Monitor::ValLoss)),
        )
        .unwrap_err();
    assert!(matches!(e, TrainError::MissingMetric { .. }), "{e}");
}

/// Zeroes every parameter from epoch `from` on (and stops learning), so the
/// later epochs are worse than the best one.
struct Wreck {
    from: usize,
}
impl Callback<Net> for Wreck {
    fn name(&self) -> &'static str {
        "wreck"
    }
    fn on_epoch_begin(&mut self, epoch: usize, ctx: &mut CallbackContext<'_, Net>) -> Result<(), TrainError> {
        if epoch >= self.from {
            ctx.set_lr(0.0);
            ctx.model.visit_mut("", &mut |_, p| {
                let z = vec![0.0; p.numel()];
                p.set_value(&z).unwrap();
            });
        }
        Ok(())
    }
    fn on_epoch_end(&mut self, _r: &EpochRecord, _ctx: &mut CallbackContext<'_, Net>) -> Result<Control, TrainError> {
        Ok(Control::Continue)
    }
}

/// A checkpoint on the validation loss that restores the best weights and
/// records `(epoch, parameters)` in `saved` at every improvement.
fn recording(saved: &mut Vec<(usize, Vec<Vec<f32>>)>) -> ModelCheckpoint<'_, Net, Cpu, f32> {
    ModelCheckpoint::new(Monitor::ValLoss)
        .restore_best(true)
        .on_improve(|epoch, m: &Net| {
            saved.push((epoch, params(m)));
            Ok(())
        })
}

#[test]
fn best_model_is_restored() {
    let (train, test, mut m) = setup();
    let mut saved = Vec::new();
    let mut ckpt = recording(&mut saved);
    let h = m
        .fit(&train, wrecked(Ce::default(), &test, 3).callback(&mut ckpt))
        .unwrap();
    let best = h.best_epoch(Monitor::ValLoss).unwrap();
    assert!(best < 3 && best == ckpt.best_epoch().unwrap(), "{h}");
    let val = h.val_loss();
    let min = val.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(val[4] > min, "{h}");
    assert_eq!(ckpt.best_value(), Some(min));
    // The model now holds the best epoch's parameters.
    let e = m.evaluate(&test, &Ce::default(), 32).unwrap();
    assert_eq!(e.loss, min);
    drop(ckpt);
    let (last_epoch, last_params) = saved.last().unwrap();
    assert_eq!(*last_epoch, best);
    assert_eq!(*last_params, params(&m));
    assert!(saved.windows(2).all(|w| w[0].0 < w[1].0));

    // Without restore_best the wrecked (last) model stays.
    let mut m = net(0);
    let mut ckpt = ModelCheckpoint::new(Monitor::ValLoss);
    let h = m
        .fit(&train, wrecked(Ce::default(), &test, 3).callback(&mut ckpt))
        .unwrap();
    let e = m.evaluate(&test, &Ce::default(), 32).unwrap();
    assert_eq!(e.loss, h.val_loss()[4]);
    // ... and can be restored by hand.
    ckpt.restore_into(&mut m).unwrap();
    assert_eq!(
        m.evaluate(&test, &Ce::default(), 32).unwrap().loss,
        ckpt.best_value().unwrap()
    );
}

#[test]
fn best_model_is_saved_with_the_checkpoint_format() {
    let (train, test, mut m) = setup();
    let dir = std::env::temp_dir().join(format!("dl-train-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("best.safetensors");
    let h = m
        .fit(
            &train,
            wrecked(Ce::default(), &test, 3).callback(
                ModelCheckpoint::new(Monitor::ValLoss)
                    .on_improve(|_, m: &Net| crate::checkpoint::save(m, &path).map_err(|e| e.to_string())),
            ),
        )
        .unwrap();
    let mut fresh = net(99);
    crate::checkpoint::load(&mut fresh, &path, true).unwrap();
    let min = h.val_loss().iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(fresh.evaluate(&test, &Ce::default(), 32).unwrap().loss, min);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_save_closure_stops_fit() {
    let (train, test, mut m) = setup();
    let ckpt = ModelCheckpoint::new(Monitor::ValAccuracy).on_improve(|_, _: &Net| Err("disk full".into()));
    let e = m
        .fit(&train, cfg(0.1).epochs(2).validation(&test).callback(ckpt))
        .unwrap_err();
    assert!(e.to_string().contains("disk full"), "{e}");
}

#[test]
fn lr_scheduler_drives_the_optimizer() {
    let train = train_set();
    let mut m = net(0);
    let mut c = cfg(1.0).epochs(4).callback(LrScheduler::new(|e| 0.1 / (1 << e) as f64));
    let h = m.fit_mut(&train, &mut c).unwrap();
    let lrs: Vec<f64> = h.epochs.iter().map(|e| e.lr).collect();
    assert_eq!(lrs, vec![0.1, 0.05, 0.025, 0.0125]);
    assert_eq!(c.optimizer().lr, 0.0125);
}

// 400 samples / batch 32 = 13 steps per epoch: call 15 is epoch 1, step 2.
#[test]
fn non_finite_loss_is_an_error_by_default() {
    let train = train_set();
    let mut m = net(0);
    let loss = Ce::default().nan_loss_at(Some(15));
    let e = m.fit(&train, cfg_with(0.1, loss).epochs(3)).unwrap_err();
    match e {
        TrainError::NonFinite { epoch, step, what } => {
            assert_eq!((epoch, step, what), (1, 2, FaultSource::Loss));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn non_finite_gradient_names_the_first_parameter() {
    let train = train_set();
    let bad = || Ce::default().nan_grad_at(Some(15));
    let mut m = net(0);
    let e = m.fit(&train, cfg_with(0.1, bad()).epochs(3)).unwrap_err();
    assert!(
        matches!(&e, TrainError::NonFinite { epoch: 1, step: 2, what: FaultSource::Gradient(n) } if n == "fc1.weight"),
        "{e}"
    );
    assert!(
        e.to_string().contains("fc1.weight") && e.to_string().contains("epoch 1, step 2"),
        "{e}"
    );
    // Frozen parameters are not checked (nor updated): the first trainable one is named.
    let mut m = net(0);
    m.fc1.weight.frozen = true;
    m.fc1.bias.frozen = true;
    let e = m.fit(&train, cfg_with(0.1, bad()).epochs(3)).unwrap_err();
    assert!(
        matches!(&e, TrainError::NonFinite { what: FaultSource::Gradient(n), .. } if n == "fc2.weight"),
        "{e}"
    );
}

#[test]
fn skip_step_skips_non_finite_steps() {
    let train = train_set();
    for loss in [Ce::default().nan_loss_at(Some(15)), Ce::default().nan_grad_at(Some(15))] {
        let mut m = net(0);
        let h = m
            .fit(&train, cfg_with(0.1, loss).epochs(3).on_non_finite(NonFinite::SkipStep))
            .unwrap();
        let skipped: Vec<usize> = h.epochs.iter().map(|e| e.skipped_steps).collect();
        assert_eq!(skipped, vec![0, 1, 0]);
        assert_eq!(h.epochs[1].samples, 400 - 32);
        assert!(h.epochs.iter().all(|e| e.train_loss.is_finite()), "{h}");
        assert!(params(&m).iter().flatten().all(|v| v.is_finite()));
    }
    // Ignore: no check, the NaN reaches the weights.
    let mut m = net(0);
    let loss = Ce::default().nan_grad_at(Some(15));
    m.fit(&train, cfg_with(0.1, loss).epochs(2).on_non_finite(NonFinite::Ignore))
        .unwrap();
    assert!(params(&m).iter().flatten().any(|v| !v.is_finite()));
}

#[test]
fn quiet_prints_nothing_and_lines_print_one_per_epoch() {
    let (train, test, mut m) = setup();
    let buf = SharedBuf::default();
    m.fit(
        &train,
        cfg(0.1)
            .epochs(2)
            .validation(&test)
            .progress(Progress::Writer(Box::new(buf.clone())))
            .quiet(true),
    )
    .unwrap();
    assert_eq!(buf.text(), "");
    let h = m
        .fit(
            &train,
            cfg(0.0)
                .epochs(5)
                .validation(&test)
                .callback(EarlyStopping::new(Monitor::ValLoss).patience(1))
                .progress(Progress::Writer(Box::new(buf.clone())))
                .quiet(false),
        )
        .unwrap();
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], epoch_line(&h.epochs[0], 5));
    assert!(lines[1].starts_with("epoch 2/5 - loss "), "{text}");
    assert!(lines[2].starts_with("early stopping"), "{text}");
    // Progress::Quiet also prints nothing, and a quiet bar never draws.
    let h = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.1), Ce::default()).progress(Progress::Quiet),
        )
        .unwrap();
    assert_eq!(h.epochs.len(), 1);
}

#[test]
fn bad_input_gives_typed_errors() {
    let (train, test, mut m) = setup();
    let e = m.fit(&train, cfg(0.1).batch_size(0)).unwrap_err();
    assert!(matches!(e, TrainError::InvalidConfig(_)), "{e}");
    let e = m
        .fit(&train, cfg(0.1).validation_batch_size(0).validation(&test))
        .unwrap_err();
    assert!(matches!(e, TrainError::InvalidConfig(_)), "{e}");
    let e = m.fit(&train, cfg(0.1).batch_size(500).drop_last(true)).unwrap_err();
    assert!(matches!(e, TrainError::InvalidConfig(_)), "{e}");
    let wrong_dim = Arc::new(Blobs::new(10, 7, 4, 1.0, 0));
    let e = m.fit(&wrong_dim, cfg(0.1)).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::SampleLen {
                role: "train",
                expected: 8,
                got: 7,
                ..
            }
        ),
        "{e}"
    );
    let e = m.fit(&train, cfg(0.1).validation(&wrong_dim)).unwrap_err();
    assert!(matches!(e, TrainError::SampleLen { role: "validation", .. }), "{e}");
    let too_many = Arc::new(Blobs::new(10, 8, 5, 1.0, 0));
    let e = m.evaluate(&too_many, &Ce::default(), 4).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::ClassCount {
                classes: 5,
                outputs: 4,
                ..
            }
        ),
        "{e}"
    );
    let empty = Arc::new(Blobs::new(0, 8, 4, 1.0, 0));
    assert!(matches!(
        m.predict(&empty, 4),
        Err(TrainError::EmptyDataset { role: "prediction" })
    ));
    assert!(matches!(
        m.evaluate(&test, &Ce::default(), 0),
        Err(TrainError::InvalidConfig(_))
    ));
    let mut liar = Blobs::new(10, 8, 4, 1.0, 0);
    liar.y[3] = 9;
    let e = m.fit(&Arc::new(liar), cfg(0.1).no_shuffle()).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::LabelOutOfRange {
                index: 3,
                label: 9,
                classes: 4,
                ..
            }
        ),
        "{e}"
    );
    // A data set behind `Arc<dyn Dataset>` works too.
    let dynamic: Arc<dyn Dataset> = test.clone();
    assert_eq!(m.predict(&dynamic, 64).unwrap().len(), 200);
    // Zero epochs: an empty history.
    assert!(m.fit(&train, cfg(0.1).epochs(0)).unwrap().epochs.is_empty());
}

#[test]
fn train_step_matches_fit() {
    // One epoch of fit without shuffling equals the same train_step calls.
    let train = train_set();
    let mut a = net(9);
    a.fit(&train, cfg(0.1).batch_size(100).no_shuffle()).unwrap();
    let mut b = net(9);
    let mut bufs = StepBuffers::new(&Cpu);
    let mut opt = Sgd::new(0.1);
    let loss = Ce::default();
    for k in 0..4 {
        let x = dl_core::Tensor::from_slice(&Cpu, 100, &train.x[k * 800..(k + 1) * 800]).unwrap();
        let l: f32 = train_step(&mut b, &mut bufs, &x, &train.y[k * 100..(k + 1) * 100], &loss, &mut opt).unwrap();
        assert!(l.is_finite());
    }
    assert_eq!(params(&a), params(&b));
}

#[test]
#[cfg(feature = "plot")]
fn fit_history_plots() {
    let (train, test, mut m) = setup();
    let h = m.fit(&train, cfg(0.2).epochs(3).validation(&test)).unwrap();
    let dir = std::env::temp_dir().join(format!("dl-train-fit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    h.plot_png(dir.join("h.png")).unwrap();
    h.write_csv(dir.join("h.csv")).unwrap();
    h.write_json(dir.join("h.json")).unwrap();
    let png = std::fs::read(dir.join("h.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(std::fs::read_to_string(dir.join("h.csv")).unwrap().lines().count(), 4);
    let back = History::from_json(&std::fs::read_to_string(dir.join("h.json")).unwrap()).unwrap();
    assert_eq!(back, h);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(not(feature = "gzip"), ignore = "reads gzip files: needs the `gzip` feature")]
fn mlp_learns_the_digits_data_set() {
    use crate::data::load_digits;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/digits/digits.csv.gz");
    let all = load_digits(path).unwrap();
    let mut order: Vec<usize> = (0..all.len()).collect();
    Rng::new(7).shuffle(&mut order);
    let train = Arc::new(all.subset(&order[..1400]).unwrap());
    let test = Arc::new(all.subset(&order[1400..]).unwrap());
    let mut m = Mlp::<64, 64, 10>::init(&Cpu, 0);
    let h = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.2), CrossEntropy::new())
                .epochs(20)
                .batch_size(32)
                .callback(LrScheduler::new(|e| 0.3 * 0.85f64.powi(e as i32)))
                .validation(&test)
                .quiet(true),
        )
        .unwrap();
    let e = m.evaluate(&test, &CrossEntropy::new(), 128).unwrap();
    assert!(e.accuracy >= 0.95, "{e}\n{h}");
    assert_eq!(e.samples, 397);
}

/// A PyTorch-style loop (`forward_train`, loss, `zero_grad`, `backward`,
/// guard, `step`) over `steps` batches of the training set, the loss
/// poisoned as `loss` says; returns the guard's verdicts or its error.
fn guarded_loop(loss: Ce, mode: NonFinite, steps: usize) -> (Net, Result<Vec<bool>, TrainError>, usize) {
    use crate::loss::Loss;
    use crate::module::Layer;
    use dl_core::{Tensor, S1};
    let data = train_set();
    let mut m = net(0);
    let mut opt = Sgd::new(0.1);
    let mut guard = NonFiniteGuard::<Cpu, f32>::new(&Cpu, mode);
    let (mut out, mut cache, mut dy, mut dx) = (
        Tensor::empty(&Cpu),
        Net::new_cache(&Cpu),
        Tensor::empty(&Cpu),
        Tensor::empty(&Cpu),
    );
    let mut verdicts = Vec::new();
    for step in 0..steps {
        let mut xs = vec![0f32; 32 * 8];
        let labels: Vec<usize> = (0..32)
            .map(|i| data.get(step * 32 + i, &mut xs[i * 8..(i + 1) * 8]))
            .collect();
        let x = Tensor::<S1<8>>::from_vec(&Cpu, 32, xs).unwrap();
        m.forward_train_into(&x, &mut out, &mut cache);
        let l = loss.loss(&out, &labels[..], &mut dy).unwrap();
        m.zero_grad();
        m.backward_into(&x, &out, &mut cache, &dy, &mut dx);
        match guard.check(&mut m, l as f64, 0, step) {
            Ok(go) => {
                if go {
                    opt.step(&mut m);
                }
                verdicts.push(go);
            }
            Err(e) => return (m, Err(e), guard.skipped()),
        }
    }
    let skipped = guard.skipped();
    (m, Ok(verdicts), skipped)
}

#[test]
fn the_guard_stops_a_hand_written_loop_naming_the_step_and_parameter() {
    let (_, r, _) = guarded_loop(Ce::default().nan_grad_at(Some(2)), NonFinite::Error, 5);
    let e = r.unwrap_err();
    assert!(
        matches!(&e, TrainError::NonFinite { epoch: 0, step: 2, what: FaultSource::Gradient(n) } if n == "fc1.weight"),
        "{e}"
    );
    let (_, r, _) = guarded_loop(Ce::default().nan_loss_at(Some(3)), NonFinite::Error, 5);
    assert!(matches!(
        r,
        Err(TrainError::NonFinite {
            step: 3,
            what: FaultSource::Loss,
            ..
        })
    ));
}

#[test]
fn the_guard_skips_non_finite_steps_of_a_hand_written_loop() {
    let (m, r, skipped) = guarded_loop(Ce::default().nan_grad_at(Some(2)), NonFinite::SkipStep, 5);
    assert_eq!(r.unwrap(), vec![true, true, false, true, true]);
    assert_eq!(skipped, 1);
    assert!(params(&m).iter().flatten().all(|v| v.is_finite()));
    // The gradients of the skipped step were zeroed.
    let (m, _, _) = guarded_loop(Ce::default().nan_grad_at(Some(2)), NonFinite::SkipStep, 3);
    let mut grads = Vec::new();
    m.visit("", &mut |_, p| grads.extend(p.grad_vec()));
    assert!(grads.iter().all(|&g| g == 0.0));
    // Ignore: the NaN reaches the weights.
    let (m, r, _) = guarded_loop(Ce::default().nan_grad_at(Some(2)), NonFinite::Ignore, 5);
    assert_eq!(r.unwrap(), vec![true; 5]);
    assert!(params(&m).iter().flatten().any(|v| v.is_nan()));
}

// ---- Issue 19: silent failures ----

/// `fit` checks the optimizer before the first step: bad hyperparameters
/// and a state loaded for another model are typed errors, not a panic or a
/// silent run.
#[test]
fn fit_validates_the_optimizer_first() {
    use crate::optim::{Adam, Optimizer};
    let train = train_set();
    for (opt, what) in [
        (Sgd::new(-0.1), "learning rate"),
        (Sgd::new(f64::NAN), "learning rate"),
        (Sgd::new(0.1).nesterov(true), "Nesterov"),
    ] {
        let mut m = net(0);
        let before = params(&m);
        let e = m
            .fit(&train, FitConfig::new(opt, Ce::default()).quiet(true))
            .unwrap_err();
        assert!(matches!(&e, TrainError::Optimizer(msg) if msg.contains(what)), "{e}");
        assert_eq!(params(&m), before, "no step was taken");
    }
    // A state from a model of another size.
    let mut other = Mlp::<8, 32, 4>::init(&Cpu, 0);
    let mut adam = Adam::new(1e-3);
    let mut trained = FitConfig::new(Adam::new(1e-3), Ce::default()).quiet(true);
    other.fit_mut(&train, &mut trained).unwrap();
    let state = Optimizer::<Cpu, f32>::state_dict(trained.optimizer());
    Optimizer::<Cpu, f32>::load_state_dict(&mut adam, &state).unwrap();
    let mut m = net(0);
    let e = m
        .fit(&train, FitConfig::new(adam, Ce::default()).quiet(true))
        .unwrap_err();
    assert!(matches!(&e, TrainError::Optimizer(msg) if msg.contains("shape")), "{e}");
}

/// A run stopped by an error still restores the best weights
/// (`ModelCheckpoint::restore_best`), instead of leaving the diverged ones.
#[test]
fn restore_best_runs_when_fit_fails() {
    let (train, test, mut m) = setup();
    let mut saved = Vec::new();
    let mut ckpt = recording(&mut saved);
    // 13 training and 7 validation calls per epoch: call 45 is step 5 of
    // epoch 2, after the weights were wrecked.
    let loss = Ce::default().nan_loss_at(Some(45));
    let e = m.fit(&train, wrecked(loss, &test, 2).callback(&mut ckpt)).unwrap_err();
    assert!(matches!(e, TrainError::NonFinite { epoch: 2, step: 5, .. }), "{e}");
    let best = ckpt.best_epoch().unwrap();
    drop(ckpt);
    let (last_epoch, last_params) = saved.last().unwrap();
    assert_eq!(*last_epoch, best);
    assert_eq!(*last_params, params(&m), "the best weights are back");
}

/// `SkipStep` gives up after `max_consecutive_skips` steps in a row, and a
/// model whose parameters are already non-finite is an error at once.
#[test]
fn skip_step_gives_up() {
    let train = train_set();
    let loss = Ce::default().nan_grad_from(Some(20));
    let mut m = net(0);
    let e = m
        .fit(
            &train,
            cfg_with(0.1, loss)
                .epochs(10)
                .on_non_finite(NonFinite::SkipStep)
                .max_consecutive_skips(5),
        )
        .unwrap_err();
    // 13 steps per epoch: calls 20..=24 are epoch 1, steps 7..=11.
    assert!(
        matches!(
            &e,
            TrainError::TooManySkippedSteps {
                epoch: 1,
                step: 11,
                consecutive: 5,
                ..
            }
        ),
        "{e}"
    );
    let mut m = net(0);
    m.fc2.bias.set_value(&[0.0, f32::NAN, 0.0, 0.0]).unwrap();
    let e = m.fit(&train, cfg(0.1).on_non_finite(NonFinite::SkipStep)).unwrap_err();
    assert!(
        matches!(&e, TrainError::NonFinite { epoch: 0, step: 0, what: FaultSource::Parameter(n) } if n == "fc2.bias"),
        "{e}"
    );
}

/// A NaN input gives `evaluate` and `predict` a typed error naming the
/// sample (it gave a NaN loss and an arbitrary class).
#[test]
fn evaluate_and_predict_refuse_non_finite_outputs() {
    let mut data = Blobs::new(40, 8, 4, 0.7, 3);
    data.x[8 * 17 + 3] = f32::NAN;
    let data = Arc::new(data);
    let mut m = net(0);
    let e = m.evaluate(&data, &Ce::default(), 16).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::NonFiniteOutput {
                role: "evaluation",
                index: 17,
                ..
            }
        ),
        "{e}"
    );
    let e = m.predict(&data, 16).unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::NonFiniteOutput {
                role: "prediction",
                index: 17,
                ..
            }
        ),
        "{e}"
    );
}

/// A device fault (out of GPU memory in a kernel) is a typed error of
/// `fit`, and the abort path still restores the best weights.
#[test]
fn device_faults_are_typed_errors_of_fit() {
    let (train, test, mut m) = setup();
    let mut ckpt = ModelCheckpoint::new(Monitor::ValLoss).restore_best(true);
    let loss = Ce::default().device_fault_at(Some(45));
    let e = m
        .fit(
            &train,
            cfg_with(0.2, loss).epochs(5).validation(&test).callback(&mut ckpt),
        )
        .unwrap_err();
    assert!(
        matches!(&e, TrainError::Core(dl_core::Error::Backend { device, msg }) if device == "cuda:0" && msg.contains("out of GPU memory")),
        "{e}"
    );
    assert_eq!(ckpt.best_epoch(), Some(1));
    let loss = Ce::default().device_fault_at(Some(2));
    let e = m.evaluate(&test, &loss, 32).unwrap_err();
    assert!(matches!(&e, TrainError::Core(dl_core::Error::Backend { .. })), "{e}");
}

#[test]
fn fit_in_bf16_is_a_hand_loop_under_autocast_and_differs_from_f32() {
    use super::amp::{autocast, Precision};
    let train = train_set();
    let mut a = net(9);
    a.fit(
        &train,
        cfg(0.1).batch_size(100).no_shuffle().mixed_precision(Precision::Bf16),
    )
    .unwrap();
    let mut b = net(9);
    let mut bufs = StepBuffers::new(&Cpu);
    let mut opt = Sgd::new(0.1);
    let loss = Ce::default();
    for k in 0..4 {
        let x = dl_core::Tensor::from_slice(&Cpu, 100, &train.x[k * 800..(k + 1) * 800]).unwrap();
        let y = &train.y[k * 100..(k + 1) * 100];
        autocast(&Cpu, Precision::Bf16, || {
            train_step(&mut b, &mut bufs, &x, y, &loss, &mut opt)
        })
        .unwrap()
        .unwrap();
    }
    assert_eq!(params(&a), params(&b));
    let mut f32_model = net(9);
    f32_model.fit(&train, cfg(0.1).batch_size(100).no_shuffle()).unwrap();
    assert_ne!(params(&a), params(&f32_model), "bf16 changed nothing");
    // And it learns as f32 does.
    let (mut m16, mut m32) = (net(0), net(0));
    let test = test_set();
    let h16 = m16
        .fit(
            &train,
            cfg(0.2).epochs(8).validation(&test).mixed_precision(Precision::Bf16),
        )
        .unwrap();
    let h32 = m32.fit(&train, cfg(0.2).epochs(8).validation(&test)).unwrap();
    let (a16, a32) = (
        h16.last().unwrap().val_accuracy.unwrap(),
        h32.last().unwrap().val_accuracy.unwrap(),
    );
    assert!(a16 >= 0.95 && (a16 - a32).abs() <= 0.02, "bf16 {a16} against f32 {a32}");
}

#[test]
fn fit_in_f16_skips_overflowing_steps_as_the_grad_scaler_does() {
    use super::amp::{autocast, GradScaler, Precision};
    // Inputs of about 1000: at the initial scale 2^16 the scaled weight
    // gradients overflow f16, so steps are skipped while the scale halves.
    let mut blobs = Blobs::new(400, 8, 4, 0.7, 1);
    blobs.x.iter_mut().for_each(|v| *v *= 1000.0);
    let train = Arc::new(blobs);
    let mut a = net(9);
    a.fit(
        &train,
        cfg(1e-6).batch_size(20).no_shuffle().mixed_precision(Precision::F16),
    )
    .unwrap();
    // The same steps by hand, PyTorch's order.
    let mut b = net(9);
    let mut bufs = StepBuffers::<_, _, Net, _, _>::new(&Cpu);
    let mut opt = Sgd::new(1e-6);
    let loss = Ce::default();
    let mut scaler = GradScaler::new();
    for k in 0..20 {
        let x = dl_core::Tensor::from_slice(&Cpu, 20, &train.x[k * 160..(k + 1) * 160]).unwrap();
        let y = &train.y[k * 20..(k + 1) * 20];
        autocast(&Cpu, Precision::F16, || {
            b.forward_train_into(&x, &mut bufs.out, &mut bufs.cache)
        })
        .unwrap();
        loss.loss(&bufs.out, y, &mut bufs.grad_out).unwrap();
        scaler.scale_grad_out(&mut bufs.grad_out);
        b.zero_grad();
        autocast(&Cpu, Precision::F16, || {
            b.backward_params_into(&x, &bufs.out, &mut bufs.cache, &bufs.grad_out, &mut bufs.grad_in)
        })
        .unwrap();
        scaler.step(&mut opt, &mut b);
        scaler.update().unwrap();
    }
    assert!(
        scaler.skipped_steps() >= 1 && scaler.scale() < 65536.0,
        "no overflow was forced"
    );
    assert!(scaler.skipped_steps() < 20, "every step was skipped");
    assert_eq!(params(&a), params(&b));
    // Without the scaler's skips the run would differ: f16 with every
    // step taken (the f32 loop) gives other parameters.
    let mut c = net(9);
    c.fit(&train, cfg(1e-6).batch_size(20).no_shuffle()).unwrap();
    assert_ne!(params(&a), params(&c));
}

#[test]
fn mixed_precision_is_refused_for_an_f64_model() {
    use super::amp::Precision;
    let train = train_set();
    let mut m = Mlp::<8, 16, 4, Cpu, f64>::init(&Cpu, 0);
    let e = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.1), Ce::default())
                .quiet(true)
                .mixed_precision(Precision::Bf16),
        )
        .unwrap_err();
    assert!(
        matches!(&e, TrainError::InvalidConfig(msg) if msg.contains("f32 model")),
        "{e}"
    );
}
