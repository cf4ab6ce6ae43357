//! ONNX export checked by the ONNX tools (feature `onnx`):
//! `onnx.checker.check_model(full_check=True)` and ONNX Runtime's outputs
//! against `forward` (within 1e-5), at batch sizes 1 and 3 (the batch
//! dimension is dynamic), for the networks of `examples/mnist_cnn.rs`,
//! `examples/resnet.rs` and `examples/attention.rs` (the example files are
//! compiled in as modules; the attention example's user layer
//! `PosEmbedding` gets a `Describe` implementation here; its tokens go
//! through the built-in `Linear` on sequences), and two
//! networks that together hold every built-in layer kind; and an `f64`
//! LeNet (written as float32).
//!
//! Needs `python3` with `onnx`, `onnxruntime` and `numpy`
//! (`bash scripts/install-onnx.sh`); without them the ONNX Runtime tests
//! print why and pass, unless `DL_REQUIRE_ONNXRUNTIME=1` is set (CI), which
//! makes the absence a failure. Run with
//! `cargo test --features onnx --test onnx_export`.

// Each example file brings its own `mod common;` (examples/common).
#![allow(clippy::duplicate_mod)]

use dl::core::{Backend, Float};
use dl::nn::export::{Describe, ExportError, GraphBuilder, Value};
use dl::prelude::*;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------
// The example networks, from the examples themselves.

#[allow(dead_code)]
#[path = "../examples/mnist_cnn.rs"]
mod mnist_cnn;

#[allow(dead_code)]
#[path = "../examples/resnet.rs"]
mod resnet;

#[allow(dead_code)]
#[path = "../examples/attention.rs"]
mod attention;

use attention::{PosEmbedding, RowTransformer};
use mnist_cnn::LeNet;
use resnet::ResNet;

/// The attention example's `PosEmbedding`: the `[T, D]` table
/// broadcast-added to every sample.
impl<const T: usize, const D: usize, B: Backend, E: Float> Describe for PosEmbedding<T, D, B, E> {
    fn describe(&self, g: &mut GraphBuilder, prefix: &str, x: &Value) -> Result<Value, ExportError> {
        let w = g.param(format!("{prefix}weight"), &[T, D])?;
        Ok(Value::new(g.node(prefix, "Add", &[&x.name, &w], vec![]), &[T, D]))
    }
}

// ---------------------------------------------------------------------
// Every built-in layer kind, over two networks (an image one and a token
// one: no built-in layer turns a vector into an image).

#[network(input = [8, 6, 6])]
pub struct DownBlock {
    conv: Conv2d<8, 16, 3, 2, 1>,
    act: Tanh,
}

/// Conv2d (padding, stride), BatchNorm2d, LeakyReLU, MaxPool2d (padding),
/// ResidualProj, AvgPool2d (padding), Sigmoid, GlobalAvgPool2d, Linear,
/// LogSoftmax.
#[network(input = [3, 12, 12])]
pub struct ImageKinds {
    conv: Conv2d<3, 8, 3, 1, 1>,
    bn: BatchNorm2d<8>,
    act: LeakyReLU,
    maxp: MaxPool2d<3, 2, 1>,
    down: ResidualProj<DownBlock, Conv2d<8, 16, 1, 2>>,
    avgp: AvgPool2d<3, 1, 1>,
    sig: Sigmoid,
    gap: GlobalAvgPool2d,
    fc: Linear<16, 10>,
    out: LogSoftmax,
}

#[network(input = [6, 16])]
pub struct MeanHead {
    mean: SeqMean,
    fc: Linear<16, 32>,
}

#[network(input = [6, 16])]
pub struct FlatHead {
    flat: Flatten,
    fc: Linear<96, 32>,
}

#[network(input = [32])]
pub struct Mlp {
    fc: Linear<32, 32>,
    act: ReLU,
}

/// Embedding, MultiHeadAttention (causal), Residual, LayerNorm,
/// LocalAttention, GELU, Dropout, SeqMean and Flatten (of a sequence)
/// under a ResidualProj, BatchNorm1d, GELUTanh, Softmax.
#[network(input = [6])]
pub struct TokenKinds {
    emb: Embedding<11, 16>,
    attn: Residual<MultiHeadAttention<16, 4, true>>,
    ln: LayerNorm<16>,
    local: LocalAttention<16, 2, 1>,
    gelu: GELU,
    drop: Dropout<10>,
    heads: ResidualProj<MeanHead, FlatHead>,
    bn: BatchNorm1d<32>,
    gt: GELUTanh,
    mlp: Residual<Mlp>,
    head: Linear<32, 8>,
    out: Softmax,
}

// ---------------------------------------------------------------------
// The harness.

/// Whether python3 with onnx, onnxruntime and numpy is there; if not, the
/// reason (a failure when `DL_REQUIRE_ONNXRUNTIME=1`).
fn onnx_tools() -> bool {
    let probe = Command::new("python3")
        .args(["-c", "import onnx, onnxruntime, numpy"])
        .output();
    let reason = match probe {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "python3 lacks onnx/onnxruntime/numpy ({}); run scripts/install-onnx.sh",
            String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
        ),
        Err(e) => format!("python3 not found ({e})"),
    };
    if std::env::var("DL_REQUIRE_ONNXRUNTIME").is_ok_and(|v| v == "1") {
        panic!("DL_REQUIRE_ONNXRUNTIME=1 but {reason}");
    }
    eprintln!("skipped: {reason}");
    false
}

fn scratch_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("dl-onnx-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_f32(path: &Path, v: &[f32]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Batch-norm statistics and affine parameters away from their identity
/// initialisation, so that the export of all four is tested.
fn perturb_norms<M: Module<Cpu, f32>>(model: &mut M, seed: u64) {
    let mut rng = Rng::new(seed);
    model.visit_mut("", &mut |name, p| {
        let n = p.numel();
        let v: Vec<f32> = if name.ends_with("running_var") {
            (0..n).map(|_| rng.uniform_range(0.5, 2.0) as f32).collect()
        } else if name.ends_with("running_mean") || (name.ends_with("bias") && p.dims.len() == 1 && n <= 64) {
            (0..n).map(|_| (0.2 * rng.normal()) as f32).collect()
        } else if p.dims.len() == 1 && name.ends_with("weight") {
            (0..n).map(|_| rng.uniform_range(0.5, 1.5) as f32).collect()
        } else {
            return;
        };
        p.set_value(&v).unwrap();
    });
}

/// Exports `model`, checks it with `scripts/onnx_check.py` and compares
/// ONNX Runtime's outputs with `forward` for each input batch; does
/// nothing but say why when the ONNX tools are missing (see
/// [`onnx_tools`]).
fn check_with_onnxruntime<M, E>(name: &str, model: &M, inputs: &[Tensor<M::Input, Cpu, E>])
where
    E: Float,
    M: Network<Cpu, E> + Describe,
{
    if !onnx_tools() {
        return;
    }
    let dir = scratch_dir(name);
    let onnx = dir.join(format!("{name}.onnx"));
    dl::onnx::export(model, &onnx).unwrap();

    // Initializers: exactly the state_dict, by name and shape, in order.
    let mut state = Vec::new();
    model.visit("", &mut |n, p| {
        state.push((n.to_string(), p.dims.iter().map(|&d| d as i64).collect::<Vec<_>>()))
    });
    let file = dl::onnx::load_model(&onnx).unwrap();
    let g = file.graph.unwrap();
    let inits: Vec<(String, Vec<i64>)> = g
        .initializer
        .iter()
        .map(|t| (t.name.clone().unwrap(), t.dims.clone()))
        .collect();
    assert_eq!(inits, state, "{name}: initializers are not the state_dict");
    assert_eq!(file.opset_import[0].version, Some(17));

    let mut args = vec![onnx.display().to_string()];
    let mut expected = Vec::new();
    for (i, x) in inputs.iter().enumerate() {
        let (inp, out) = (dir.join(format!("in{i}.bin")), dir.join(format!("out{i}.bin")));
        let xv: Vec<f32> = x.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
        write_f32(&inp, &xv);
        let dims: Vec<String> = x.shape().iter().map(|d| d.to_string()).collect();
        args.push(format!("{}:{}:{}", inp.display(), out.display(), dims.join(",")));
        let y = Layer::<M::Input, M::Output, Cpu, E>::forward(model, x);
        let yv: Vec<f32> = y.to_vec().into_iter().map(|v| v.to_f64() as f32).collect();
        expected.push((out, y.shape(), yv));
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/onnx_check.py");
    let run = Command::new("python3").arg(&script).args(&args).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{name}: onnx_check.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut worst = 0.0f32;
    for (out, shape, want) in expected {
        let got = read_f32(&out);
        assert_eq!(got.len(), want.len(), "{name}: output of shape {shape:?}");
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            let d = (a - b).abs();
            assert!(
                d <= 1e-5,
                "{name}, batch {}: element {k}: onnxruntime {a}, forward {b} (difference {d:e})",
                shape[0]
            );
            worst = worst.max(d);
        }
    }
    eprintln!("{name}: {}max |onnxruntime - forward| = {worst:e}", stdout);
    std::fs::remove_dir_all(&dir).ok();
}

fn randn<S: Shape>(batch: usize, seed: u64) -> Tensor<S> {
    Tensor::randn(&Cpu, batch, &mut Rng::new(seed))
}

#[test]
fn mnist_cnn_matches_onnxruntime() {
    let model = <LeNet>::init(&Cpu, 1);
    check_with_onnxruntime("mnist_cnn", &model, &[randn(1, 10), randn(3, 11)]);
}

#[test]
fn f64_model_is_written_as_float32_and_matches_onnxruntime() {
    let model = LeNet::<Cpu, f64>::init(&Cpu, 1);
    // Inputs that float32 holds exactly, so both sides see the same data.
    let x = |batch: usize, seed: u64| -> Tensor<S3<1, 28, 28>, Cpu, f64> {
        let v = randn::<S3<1, 28, 28>>(batch, seed).to_vec();
        Tensor::from_vec(&Cpu, batch, v.into_iter().map(f64::from).collect()).unwrap()
    };
    check_with_onnxruntime("mnist_cnn_f64", &model, &[x(1, 30), x(3, 31)]);
}

#[test]
fn resnet_matches_onnxruntime() {
    let mut model = <ResNet>::init(&Cpu, 2);
    perturb_norms(&mut model, 3);
    model.eval();
    check_with_onnxruntime("resnet", &model, &[randn(1, 12), randn(3, 13)]);
}

#[test]
fn attention_with_user_layers_matches_onnxruntime() {
    let model = <RowTransformer>::init(&Cpu, 4);
    check_with_onnxruntime("attention", &model, &[randn(1, 14), randn(3, 15)]);
}

#[test]
fn every_layer_kind_matches_onnxruntime() {
    let mut image = <ImageKinds>::init(&Cpu, 5);
    image.act.slope = 0.1;
    perturb_norms(&mut image, 6);
    check_with_onnxruntime("image_kinds", &image, &[randn(1, 16), randn(3, 17)]);

    let mut tokens = <TokenKinds>::init(&Cpu, 7);
    perturb_norms(&mut tokens, 8);
    let ids = |batch: usize, seed: u64| -> Tensor<S1<6>> {
        let mut rng = Rng::new(seed);
        let v = (0..batch * 6).map(|_| (rng.next_u64() % 11) as f32).collect();
        Tensor::from_vec(&Cpu, batch, v).unwrap()
    };
    check_with_onnxruntime("token_kinds", &tokens, &[ids(1, 18), ids(3, 19)]);
}

// ---------------------------------------------------------------------
// Without ONNX Runtime: the file itself, import and the typed errors.

#[test]
fn export_then_import_restores_every_parameter() {
    let dir = scratch_dir("import");
    let path = dir.join("resnet.onnx");
    let mut model = <ResNet>::init(&Cpu, 21);
    perturb_norms(&mut model, 22);
    dl::onnx::export(&model, &path).unwrap();
    let mut copy = <ResNet>::init(&Cpu, 23);
    dl::onnx::import(&mut copy, &path).unwrap();
    let x = randn::<S3<1, 28, 28>>(2, 24);
    assert_eq!(copy.forward(&x).to_vec(), model.forward(&x).to_vec());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn import_refuses_a_file_of_another_network_and_changes_nothing() {
    let dir = scratch_dir("refuse");
    let lenet = dir.join("lenet.onnx");
    dl::onnx::export(&<LeNet>::init(&Cpu, 1), &lenet).unwrap();
    let mut other = <ResNet>::init(&Cpu, 2);
    let before = other.fc.weight.value_vec();
    match dl::onnx::import(&mut other, &lenet) {
        Err(ExportError::Mismatch { reason, .. }) => assert!(reason.contains("stem.weight"), "{reason}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(other.fc.weight.value_vec(), before);

    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, [0xff, 0xff, 0xff]).unwrap();
    assert!(matches!(
        dl::onnx::import(&mut other, &garbage),
        Err(ExportError::Decode { .. })
    ));
    assert!(matches!(
        dl::onnx::import(&mut other, dir.join("missing.onnx")),
        Err(ExportError::Io { .. })
    ));
    assert!(matches!(
        dl::onnx::export(&<LeNet>::init(&Cpu, 1), dir.join("no/such/dir/x.onnx")),
        Err(ExportError::Io { .. })
    ));
    // A failed export leaves the previous file as it was.
    let before = std::fs::read(&lenet).unwrap();
    std::fs::create_dir(dir.join("lenet.onnx.tmp")).unwrap();
    assert!(matches!(
        dl::onnx::export(&<LeNet>::init(&Cpu, 9), &lenet),
        Err(ExportError::Io { .. })
    ));
    assert_eq!(std::fs::read(&lenet).unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn graph_names_follow_the_state_dict_and_batch_is_dynamic() {
    let model = <ResNet>::init(&Cpu, 1);
    let g = dl::onnx::graph(&model).unwrap();
    assert_eq!(g.count("Conv"), 1 + 2 + 3 + 2);
    assert_eq!(g.count("BatchNormalization"), 1 + 2 + 2 + 2);
    assert_eq!(g.count("Add"), 3);
    assert_eq!(g.count("GlobalAveragePool"), 1);
    assert!(g.nodes.iter().any(|n| n.name == "/block2/shortcut/Conv"));
    assert!(g
        .nodes
        .iter()
        .any(|n| n.inputs.contains(&"block2.shortcut.weight".to_string())));
    assert_eq!(g.input.dims, [1, 28, 28]);
    let dir = scratch_dir("names");
    let path = dir.join("resnet.onnx");
    dl::onnx::export(&model, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), dl::onnx::to_bytes(&model).unwrap());
    let m = dl::onnx::load_model(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let input = &m.graph.unwrap().input[0];
    let dims = input.r#type.clone().unwrap().tensor_type.unwrap().shape.unwrap().dim;
    assert_eq!(
        dims[0].value,
        Some(dl::onnx::proto::DimensionValue::DimParam("batch".to_string()))
    );
}
