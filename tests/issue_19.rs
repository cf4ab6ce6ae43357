//! Regressions of issue 19 ("silent failures and reachable panics") that
//! need the `#[network]` macro: a bad token id in the data stops `fit`,
//! `evaluate` and `predict` with a typed error naming the layer, the id and
//! the sample, through the generated network's `check_input`.
use dl::nn::train::TrainError;
use dl::prelude::*;
use std::sync::Arc;

#[network(input = [4])]
pub struct Bag {
    emb: Embedding<10, 3>,
    mean: SeqMean,
    head: Linear<3, 2>,
}

#[network(input = [4])]
pub struct Outer {
    inner: Bag,
    act: ReLU,
}

fn ids(bad_at: Option<(usize, f32)>) -> Arc<InMemoryDataset> {
    let n = 20;
    let mut x: Vec<f32> = (0..n * 4).map(|i| (i % 10) as f32).collect();
    if let Some((i, v)) = bad_at {
        x[i] = v;
    }
    let y = (0..n).map(|i| i % 2).collect();
    Arc::new(InMemoryDataset::new(x, y, 4, 2).unwrap())
}

#[test]
fn bad_token_ids_stop_fit_evaluate_and_predict() {
    for bad in [10.0, -1.0, 2.5, f32::NAN] {
        // Sample 13, token 2.
        let data = ids(Some((13 * 4 + 2, bad)));
        let mut m = <Bag>::init(&Cpu, 0);
        let e = m
            .fit(
                &data,
                FitConfig::new(Sgd::new(0.1), CrossEntropy::new())
                    .batch_size(8)
                    .quiet(true),
            )
            .unwrap_err();
        match &e {
            TrainError::InvalidInput {
                role: "train",
                index: 13,
                source,
            } => {
                assert_eq!((source.layer.as_str(), source.position), ("emb", 2), "{e}");
                assert!(
                    source.value.to_bits() == f64::from(bad).to_bits() || bad.is_nan(),
                    "{e}"
                );
            }
            other => panic!("{other}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("emb") && msg.contains("sample 13") && msg.contains("0..10"),
            "{msg}"
        );
        let evaluated = m.evaluate(&data, &CrossEntropy::new(), 8).map(|_| ());
        let predicted = m.predict(&data, 8).map(|_| ());
        for (want, r) in [("evaluation", evaluated), ("prediction", predicted)] {
            let e = r.unwrap_err();
            assert!(
                matches!(&e, TrainError::InvalidInput { role, index: 13, .. } if *role == want),
                "{e}"
            );
        }
    }
    // Nested networks name the path.
    let mut m = <Outer>::init(&Cpu, 0);
    let e = m.predict(&ids(Some((5, 99.0))), 8).unwrap_err();
    assert!(
        matches!(&e, TrainError::InvalidInput { index: 1, source, .. } if source.layer == "inner.emb" && source.position == 1),
        "{e}"
    );
    // Good ids train.
    let mut m = <Bag>::init(&Cpu, 0);
    m.fit(
        &ids(None),
        FitConfig::new(Sgd::new(0.1), CrossEntropy::new()).quiet(true),
    )
    .unwrap();
}

/// The plain `forward` does not turn a bad id into a zero vector: the
/// sample's output is NaN (documented), the others are untouched.
#[test]
fn forward_marks_bad_ids_with_nan() {
    let m = <Bag>::init(&Cpu, 0);
    let x = Tensor::<S1<4>>::from_vec(&Cpu, 2, vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 30.0, 4.0]).unwrap();
    let y = m.forward(&x).to_vec();
    assert!(y[..2].iter().all(|v| v.is_finite()), "{y:?}");
    assert!(y[2..].iter().all(|v| v.is_nan()), "{y:?}");
}
