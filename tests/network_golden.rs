//! End-to-end golden cases: one SGD training step of a `#[network]`
//! against PyTorch (`tests/golden/{mlp,cnn}_train_step.safetensors`).
//!
//! Parameters are loaded through `visit_mut` by their `state_dict` names;
//! the cross-entropy gradient `(softmax(logits) - onehot) / N` is computed
//! here, fed to the generated `backward`, and every parameter gradient and
//! updated parameter is compared with the file.
use dl::nn::golden::{load_dir, Case};
use dl::prelude::*;
use std::path::Path;

mod common;
use common::GoldenCnn;

/// `nn.Sequential(Linear(20, 16), ReLU(), Linear(16, 3))`.
#[network(input = [20])]
pub struct GoldenMlp {
    fc1: Linear<20, 16>,
    relu: ReLU,
    fc2: Linear<16, 3>,
}

fn case(name: &str) -> Case {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    load_dir(&dir)
        .unwrap()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no golden case {name}"))
}

/// Mean cross-entropy of `logits` `[n, c]` and its gradient `(softmax - onehot) / n`.
fn cross_entropy(logits: &[f32], labels: &[usize], c: usize) -> (f64, Vec<f32>) {
    let n = labels.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0f32; n * c];
    for (i, &label) in labels.iter().enumerate() {
        let row: Vec<f64> = logits[i * c..(i + 1) * c].iter().map(|&v| v as f64).collect();
        let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = row.iter().map(|v| (v - max).exp()).sum();
        loss -= row[label] - max - sum.ln();
        for j in 0..c {
            let p = (row[j] - max).exp() / sum;
            let onehot = if j == label { 1.0 } else { 0.0 };
            grad[i * c + j] = ((p - onehot) / n as f64) as f32;
        }
    }
    (loss / n as f64, grad)
}

macro_rules! train_step_case {
    ($net:ty, $case:expr) => {{
        let case = case($case);
        let mut model = <$net>::init(&Cpu, 0);
        let mut loaded = Vec::new();
        model.visit_mut("", &mut |name, p| {
            let t = case.t(name).unwrap();
            assert_eq!(t.shape, p.dims, "{name}");
            p.set_value(&t.f32()).unwrap();
            loaded.push(name.to_string());
        });
        let expected: Vec<String> = case.params["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|l| l["name"].as_str())
            .flat_map(|n| [format!("{n}.weight"), format!("{n}.bias")])
            .collect();
        assert_eq!(loaded, expected);

        let input = case.t("input").unwrap();
        let batch = input.shape[0];
        let x = Tensor::from_slice(&Cpu, batch, &input.f32()).unwrap();
        let (logits, mut cache) = model.forward_train(&x);
        case.compare32("output", &logits.to_vec()).unwrap();

        let labels = case.t("labels").unwrap().indices();
        let classes = logits.len() / batch;
        let (loss, d_logits) = cross_entropy(&logits.to_vec(), &labels, classes);
        case.compare("loss", &[loss]).unwrap();

        let d_logits = Tensor::from_slice(&Cpu, batch, &d_logits).unwrap();
        model.zero_grad();
        let dx = model.backward(&mut cache, &d_logits);
        assert_eq!(dx.shape(), input.shape);

        let lr = case.params["optimizer"]["lr"].as_f64().unwrap() as f32;
        model.visit_mut("", &mut |name, p| {
            let grad = p.grad_vec();
            case.compare32(&format!("grad_{name}"), &grad).unwrap();
            let after: Vec<f32> = p.value_vec().iter().zip(&grad).map(|(v, g)| v - lr * g).collect();
            p.set_value(&after).unwrap();
            case.compare32(&format!("{name}_after"), &p.value_vec()).unwrap();
        });
        loaded.len()
    }};
}

#[test]
fn mlp_train_step_matches_pytorch() {
    assert_eq!(train_step_case!(GoldenMlp, "mlp_train_step"), 4);
}

#[test]
fn cnn_train_step_matches_pytorch() {
    assert_eq!(train_step_case!(GoldenCnn, "cnn_train_step"), 4);
}
