//! Issues 21 and 16 through the facade: `fit`/`evaluate` of `#[network]`
//! models on float targets (the bundled diabetes and breast-cancer data,
//! regression and binary classification, with the Keras-named monitors),
//! and `fit` with a frozen `#[network]` teacher. Small and fast: the
//! accuracy targets are the examples' (`regression`, `binary`, `distill`).

use dl::nn::data::tabular::{load_breast_cancer, load_diabetes, Tabular};
use dl::nn::data::{InMemoryDataset, TensorDataset};
use dl::nn::train::{Metric, TrainError};
use dl::prelude::*;
use std::path::Path;
use std::sync::Arc;

/// The `regression` and `binary` examples' networks, declared once in
/// examples/common/linear.rs.
#[path = "../examples/common/linear.rs"]
mod linear;
use linear::{Logistic, Regressor};

#[network(input = [4])]
pub struct Wide {
    fc1: Linear<4, 32>,
    relu: ReLU,
    fc2: Linear<32, 3>,
}

#[network(input = [4])]
pub struct Narrow {
    fc1: Linear<4, 3>,
}

fn data(p: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(p)
}

/// The last fifth of `d` (seed 0) held out, both parts standardised with
/// the training part's statistics.
fn standardised_holdout(d: Tabular) -> (Tabular, Tabular) {
    let (mut train, mut test) = d.holdout(5, 0);
    let s = train.standardise();
    test.standardise_with(&s);
    (train, test)
}

#[test]
fn diabetes_regression_with_fit_evaluate_and_an_r2_monitor() {
    let (mut train, mut test) = standardised_holdout(load_diabetes(data("diabetes")).unwrap());
    let (mean, std) = (152.0f32, 77.0f32);
    for t in [&mut train, &mut test] {
        t.targets.iter_mut().for_each(|v| *v = (*v - mean) / std);
    }
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut model = Regressor::<Cpu, f32>::init(&Cpu, 0);
    let mut best = ModelCheckpoint::<Regressor, Cpu, f32>::new(Monitor::Val(Metric::R2)).restore_best(true);
    let h = model
        .fit(
            &train,
            FitConfig::new(Adam::new(0.02), Mse)
                .epochs(30)
                .batch_size(32)
                .validation(&test)
                .callback(&mut best)
                .quiet(true),
        )
        .unwrap();
    let e = model.evaluate(&test, &Mse, 128).unwrap();
    // The best weights were restored: evaluate gives the best val_r2.
    assert_eq!(e.metrics.r2, best.best_value(), "{h}");
    assert!(e.metrics.r2.unwrap() > 0.3, "{h}\n{e}");
    assert!(h.to_csv().lines().next().unwrap().ends_with(",train_r2,val_r2"));
}

#[test]
fn breast_cancer_with_one_logit_and_bce() {
    let (train, test) = standardised_holdout(load_breast_cancer(data("breast_cancer/breast_cancer.csv.gz")).unwrap());
    let (train, test) = (Arc::new(train), Arc::new(test));
    let mut model = Logistic::<Cpu, f32>::init(&Cpu, 0);
    let h = model
        .fit(
            &train,
            FitConfig::new(Adam::new(0.01), BceWithLogits)
                .epochs(10)
                .validation(&test)
                .callback(EarlyStopping::new(Monitor::Val(Metric::BinaryAccuracy)).patience(5))
                .quiet(true),
        )
        .unwrap();
    let e = model.evaluate(&test, &BceWithLogits, 128).unwrap();
    assert!(e.metrics.binary_accuracy.unwrap() >= 0.93, "{h}\n{e}");
    // The same data set given to a class-label loss: a typed error.
    let mut two = Regressor::<Cpu, f32>::init(&Cpu, 0);
    let diabetes = Arc::new(load_diabetes(data("diabetes")).unwrap());
    let err = two.evaluate(&diabetes, &L1Loss, 64);
    assert!(err.is_ok(), "L1 takes float targets");
    let labels = Arc::new(InMemoryDataset::new(vec![0.0; 20], vec![0, 1], 10, 2).unwrap());
    let err = two.evaluate(&labels, &Mse, 64).unwrap_err();
    assert!(matches!(err, TrainError::TargetLen { got: 0, .. }), "{err}");
}

/// Three Gaussian blobs in 4 dimensions, labels 0..3.
fn blobs(n: usize, seed: u64) -> Arc<InMemoryDataset> {
    let mut rng = dl::core::Rng::new(seed);
    let centres = [[2.0, 0.0, -1.0, 1.0], [-1.0, 2.0, 1.0, -2.0], [0.0, -2.0, 2.0, 0.5]];
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..n {
        let c = i % 3;
        y.push(c);
        x.extend(centres[c].iter().map(|m| (m + 1.5 * rng.normal()) as f32));
    }
    Arc::new(InMemoryDataset::new(x, y, 4, 3).unwrap())
}

#[test]
fn a_network_distils_from_a_frozen_network() {
    let (train, test) = (blobs(600, 1), blobs(300, 2));
    let mut teacher = Wide::<Cpu, f32>::init(&Cpu, 1);
    teacher
        .fit(
            &train,
            FitConfig::new(Adam::new(0.01), CrossEntropy::new())
                .epochs(5)
                .quiet(true),
        )
        .unwrap();
    let before = dl::nn::checkpoint::save_to_bytes(&teacher).unwrap();
    let mut student = Narrow::<Cpu, f32>::init(&Cpu, 2);
    let h = student
        .fit(
            &train,
            FitConfig::new(Adam::new(0.01), CrossEntropy::new())
                .epochs(3)
                .validation(&test)
                .teacher(&mut teacher, 3.0, 0.5)
                .quiet(true),
        )
        .unwrap();
    assert!(h.last().unwrap().val_accuracy.unwrap() > 0.6, "{h}");
    assert_eq!(
        dl::nn::checkpoint::save_to_bytes(&teacher).unwrap(),
        before,
        "the teacher is frozen"
    );
    // A teacher with float targets too (soft term over the last axis).
    let floats = Arc::new(TensorDataset::new(vec![0.5; 40], vec![0.2; 30], 4, 3).unwrap());
    student
        .fit(
            &floats,
            FitConfig::new(Adam::new(0.01), Mse)
                .teacher(&mut teacher, 2.0, 0.5)
                .quiet(true),
        )
        .unwrap();
}
