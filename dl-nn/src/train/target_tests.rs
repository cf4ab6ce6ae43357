//! `fit`, `evaluate` and `predict` on float targets (regression, binary
//! classification), the typed errors of a data set whose targets do not fit
//! the loss, and distillation from a frozen teacher.

use super::metrics::RegressionMetrics;
use super::test_util::{Blobs, Ce, Mlp};
use super::*;
use crate::data::{Dataset, TensorDataset};
use crate::loss::{BceWithLogits, CrossEntropy, DistillTarget, Distillation, KlDiv, Loss, Mse};
use crate::module::{Layer, Module};
use crate::optim::Sgd;
use dl_core::{Cpu, Rng, Tensor, S1};
use std::sync::Arc;

/// `y = w . x + 0.5 + noise` with 4 features (R² about 0.97).
fn linear_data(n: usize, seed: u64) -> Arc<TensorDataset> {
    let w = [1.0, -2.0, 0.5, 1.5];
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(4 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..4).map(|_| rng.normal()).collect();
        y.push((row.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() + 0.5 + 0.5 * rng.normal()) as f32);
        x.extend(row.iter().map(|&v| v as f32));
    }
    Arc::new(TensorDataset::new(x, y, 4, 1).unwrap())
}

/// Two blobs as float 0/1 targets.
fn binary_data(n: usize, seed: u64) -> Arc<TensorDataset> {
    let b = Blobs::new(n, 8, 2, 0.9, seed);
    Arc::new(TensorDataset::new(b.x, b.y.iter().map(|&c| c as f32).collect(), 8, 1).unwrap())
}

/// The hand-written test MLP from a seed (the one place that names
/// `Module`'s constructor).
fn mlp<const I: usize, const H: usize, const C: usize>(seed: u64) -> Mlp<I, H, C> {
    Mlp::init(&Cpu, seed)
}

fn params<M: Module<Cpu, f32>>(m: &M) -> Vec<Vec<f32>> {
    let mut v = Vec::new();
    m.visit("", &mut |_, p| v.push(p.value_vec()));
    v
}

#[test]
fn fits_a_regression_and_reports_mse_mae_r2() {
    let (train, val) = (linear_data(400, 1), linear_data(200, 2));
    let mut m = mlp::<4, 16, 1>(0);
    let mut es = EarlyStopping::new(Monitor::Val(Metric::R2)).patience(3);
    let h = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.05), Mse)
                .epochs(12)
                .batch_size(32)
                .validation(&val)
                .callback(&mut es)
                .quiet(true),
        )
        .unwrap();
    let last = h.last().unwrap().clone();
    let r2 = last.val_metrics.r2.unwrap();
    assert!(r2 > 0.9, "{h}");
    assert!(last.train_accuracy.is_nan() && last.val_accuracy.is_none(), "{h}");
    assert!(last.train_metrics.mae.is_some() && last.val_metrics.binary_accuracy.is_none());
    assert_eq!(h.metrics(), vec![Metric::Mse, Metric::Mae, Metric::R2]);
    // With Mse the mse metric is the validation loss.
    assert!(
        (last.val_metrics.mse.unwrap() - last.val_loss.unwrap()).abs() < 1e-6,
        "{h}"
    );
    // `evaluate` afterwards gives the last validation figures exactly, and
    // they agree with the metrics of `predict`'s outputs.
    let e = m.evaluate(&val, &Mse, 32).unwrap();
    assert_eq!((e.loss, e.metrics), (last.val_loss.unwrap(), last.val_metrics));
    assert!(e.accuracy.is_nan());
    assert!(e.to_string().contains("r2 0."), "{e}");
    let p = m.predict(&val, 64).unwrap();
    let whole = RegressionMetrics::new(&p.outputs, val.targets());
    assert!((whole.r2 - r2).abs() < 1e-9 && (whole.mae - e.metrics.mae.unwrap()).abs() < 1e-9);
    // The table and the line show the metrics.
    assert!(h.to_string().contains("val_r2"), "{h}");
    assert!(epoch_line(&last, 12).contains(" - val_r2 0."));
}

#[test]
fn fits_a_binary_classifier_with_bce_and_reports_binary_accuracy() {
    let (train, val) = (binary_data(400, 1), binary_data(200, 2));
    let mut m = mlp::<8, 16, 1>(0);
    let mut ckpt = ModelCheckpoint::<Mlp<8, 16, 1>, Cpu, f32>::new(Monitor::Val(Metric::BinaryAccuracy));
    let h = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.2), BceWithLogits)
                .epochs(5)
                .validation(&val)
                .callback(&mut ckpt)
                .quiet(true),
        )
        .unwrap();
    let last = h.last().unwrap();
    assert!(last.val_metrics.binary_accuracy.unwrap() >= 0.95, "{h}");
    assert!(last.train_metrics.binary_accuracy.unwrap() >= 0.9, "{h}");
    assert!(last.val_metrics.r2.is_none());
    assert!(ckpt.best_epoch().is_some());
    let e = m.evaluate(&val, &BceWithLogits, 50).unwrap();
    assert_eq!(e.metrics.binary_accuracy, last.val_metrics.binary_accuracy);
    // A monitor of another kind of loss is a typed error naming it.
    let err = m
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.2), BceWithLogits)
                .validation(&val)
                .callback(EarlyStopping::new(Monitor::Val(Metric::R2)))
                .quiet(true),
        )
        .unwrap_err();
    assert!(
        matches!(err, TrainError::MissingMetric { monitor: "val_r2", .. }),
        "{err}"
    );
}

#[test]
fn targets_that_do_not_fit_the_loss_are_typed_errors() {
    let labels = Arc::new(Blobs::new(40, 4, 2, 0.5, 1));
    let floats = linear_data(40, 1);
    let mut m = mlp::<4, 8, 1>(0);
    // Class labels given to MSE.
    let e = m
        .fit(&labels, FitConfig::new(Sgd::new(0.1), Mse).quiet(true))
        .unwrap_err();
    assert!(
        matches!(
            e,
            TrainError::TargetLen {
                got: 0,
                outputs: 1,
                role: "train"
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("class labels only"), "{e}");
    let e = m.evaluate(&labels, &Mse, 8).unwrap_err();
    assert!(matches!(e, TrainError::TargetLen { role: "evaluation", .. }), "{e}");
    // Float targets given to a class-label loss.
    let mut c = mlp::<4, 8, 2>(0);
    let e = c
        .fit(&floats, FitConfig::new(Sgd::new(0.1), Ce::default()).quiet(true))
        .unwrap_err();
    assert!(matches!(e, TrainError::NoClassLabels { target_len: 1, .. }), "{e}");
    // Float targets of the wrong width (1 target, 2 outputs), also as a
    // validation set.
    let e = c
        .fit(&floats, FitConfig::new(Sgd::new(0.1), Mse).quiet(true))
        .unwrap_err();
    assert!(matches!(e, TrainError::TargetLen { got: 1, outputs: 2, .. }), "{e}");
    let e = m
        .fit(
            &floats,
            FitConfig::new(Sgd::new(0.1), Mse).validation(&labels).quiet(true),
        )
        .unwrap_err();
    assert!(matches!(e, TrainError::TargetLen { role: "validation", .. }), "{e}");
}

#[test]
fn a_loss_without_metrics_reports_the_loss_only() {
    // KlDiv on log-probability outputs: the loss, no metric.
    let floats = Arc::new(TensorDataset::new(vec![0.0; 8], vec![0.5; 8], 2, 2).unwrap());
    let mut m = mlp::<2, 4, 2>(0);
    let e = m.evaluate(&floats, &KlDiv, 2).unwrap();
    assert!(e.loss.is_finite() && e.metrics.is_empty() && e.accuracy.is_nan());
    assert!(!e.to_string().contains("accuracy"), "{e}");
}

/// A teacher trained for two epochs on the blobs.
fn trained_teacher() -> Mlp<8, 16, 4> {
    let mut t = mlp::<8, 16, 4>(5);
    t.fit(
        &Arc::new(Blobs::new(400, 8, 4, 0.7, 1)),
        FitConfig::new(Sgd::new(0.2), CrossEntropy::new()).epochs(2).quiet(true),
    )
    .unwrap();
    t
}

#[test]
fn the_distillation_step_is_the_distillation_loss_and_the_teacher_stays_frozen() {
    let data = Arc::new(Blobs::new(64, 8, 4, 0.7, 3));
    let mut teacher = trained_teacher();
    teacher.set_training(true); // fit puts it in evaluation mode
    let before = params(&teacher);
    let mut student = mlp::<8, 16, 4>(9);
    // One step of the whole set with lr 0: the epoch's loss is the
    // distillation loss of the student's and the teacher's logits.
    let h = student
        .fit(
            &data,
            FitConfig::new(Sgd::new(0.0), CrossEntropy::new())
                .batch_size(64)
                .no_shuffle()
                .teacher(&mut teacher, 3.0, 0.7)
                .quiet(true),
        )
        .unwrap();
    let mut x = vec![0.0; 64 * 8];
    let labels: Vec<usize> = (0..64).map(|i| data.get(i, &mut x[i * 8..(i + 1) * 8])).collect();
    let x = Tensor::<S1<8>>::from_vec(&Cpu, 64, x).unwrap();
    let target = DistillTarget {
        teacher: teacher.forward(&x),
        labels,
    };
    let mut g = Tensor::empty(&Cpu);
    let want = Distillation::new(3.0, 0.7)
        .loss(&student.forward(&x), &target, &mut g)
        .unwrap();
    let got = h.epochs[0].train_loss;
    assert!((got - want as f64).abs() < 1e-5 * want.abs() as f64, "{got} vs {want}");
    assert_eq!(params(&teacher), before, "the teacher never trains");
    // Accuracy is still that of the labels.
    assert!((0.0..=1.0).contains(&h.epochs[0].train_accuracy));
}

#[test]
fn alpha_zero_trains_as_without_a_teacher_and_bad_settings_are_refused() {
    let data = Arc::new(Blobs::new(100, 8, 4, 0.7, 3));
    let mut teacher = trained_teacher();
    let run = |teacher: Option<&mut Mlp<8, 16, 4>>| {
        let mut s = mlp::<8, 16, 4>(9);
        let cfg = FitConfig::new(Sgd::new(0.1), CrossEntropy::new()).epochs(2).quiet(true);
        let h = match teacher {
            Some(t) => s.fit(&data, cfg.teacher(t, 2.0, 0.0)),
            None => s.fit(&data, cfg),
        }
        .unwrap();
        (params(&s), h.train_loss())
    };
    assert_eq!(run(Some(&mut teacher)), run(None));
    // A teacher changes the student.
    let mut s = mlp::<8, 16, 4>(9);
    s.fit(
        &data,
        FitConfig::new(Sgd::new(0.1), CrossEntropy::new())
            .epochs(2)
            .teacher(&mut teacher, 2.0, 0.9)
            .quiet(true),
    )
    .unwrap();
    assert_ne!(params(&s), run(None).0);
    for (t, a) in [(0.0, 0.5), (f64::INFINITY, 0.5), (2.0, 1.5), (2.0, f64::NAN)] {
        let e = s
            .fit(
                &data,
                FitConfig::new(Sgd::new(0.1), CrossEntropy::new())
                    .teacher(&mut teacher, t, a)
                    .quiet(true),
            )
            .unwrap_err();
        assert!(matches!(e, TrainError::InvalidConfig(_)), "{e}");
    }
}

#[test]
fn a_teacher_works_with_float_targets_too() {
    // Regression student distilled from a regression teacher: the soft term
    // runs over the output's last axis (one output: softmax 1, no pull), so
    // alpha 0.5 halves the MSE gradient: training still converges.
    let train = linear_data(200, 1);
    let mut teacher = mlp::<4, 8, 1>(1);
    let mut s = mlp::<4, 8, 1>(2);
    let h = s
        .fit(
            &train,
            FitConfig::new(Sgd::new(0.05), Mse)
                .epochs(12)
                .teacher(&mut teacher, 2.0, 0.5)
                .quiet(true),
        )
        .unwrap();
    assert!(h.last().unwrap().train_metrics.r2.unwrap() > 0.8, "{h}");
}
