//! Post-training quantization, dynamic quantization and fake-quant layers
//! on `#[network]` models (cross-crate: needs the macro).
use dl::nn::checkpoint;
use dl::nn::quant::{quantize, quantize_dynamic, FakeQuant, Observer, QgemmPath, QuantConfig, QuantError, Quantized};
use dl::prelude::*;

#[network(input = [1, 8, 8])]
pub struct Tiny {
    conv: Conv2d<1, 4, 3>,
    relu: ReLU,
    pool: MaxPool2d<2>,
    flat: Flatten,
    fc: Linear<36, 3>,
}

#[network(input = [8])]
pub struct Mlp {
    fc1: Linear<8, 16>,
    relu: ReLU,
    fc2: Linear<16, 3>,
}

/// The mnist_cnn network, declared once in examples/common/lenet.rs.
#[path = "../examples/common/lenet.rs"]
mod lenet;
use lenet::LeNet;

/// Conv + BatchNorm (folded), padding, stride, average pooling, dropout.
#[network(input = [3, 12, 12])]
pub struct BnNet {
    conv1: Conv2d<3, 8, 3, 1, 1>,
    bn1: BatchNorm2d<8>,
    relu1: ReLU,
    pool1: AvgPool2d<2>,
    conv2: Conv2d<8, 16, 3, 2, 1>,
    relu2: ReLU,
    gap: GlobalAvgPool2d,
    drop: Dropout,
    fc: Linear<16, 5>,
}

#[network(input = [4])]
pub struct WithSigmoid {
    fc: Linear<4, 4>,
    act: Sigmoid,
    out: Linear<4, 2>,
}

#[network(input = [8])]
pub struct QatMlp {
    fq_in: FakeQuant,
    fc1: Linear<8, 16>,
    relu: ReLU,
    fq1: FakeQuant,
    fc2: Linear<16, 3>,
}

/// A residual branch at 4 channels, 8x8 (BatchNorm folded inside the block).
#[network(input = [4, 8, 8])]
pub struct Block4 {
    conv1: Conv2d<4, 4, 3, 1, 1>,
    bn1: BatchNorm2d<4>,
    relu: ReLU,
    conv2: Conv2d<4, 4, 3, 1, 1>,
}

/// A downsampling branch: 4 -> 8 channels, 8x8 -> 4x4.
#[network(input = [4, 8, 8])]
pub struct Down8 {
    conv1: Conv2d<4, 8, 3, 2, 1>,
    relu: ReLU,
    conv2: Conv2d<8, 8, 3, 1, 1>,
}

/// conv -> Residual<conv, relu, conv> -> relu -> pool -> flatten -> linear.
#[network(input = [1, 8, 8])]
pub struct ResNetTiny {
    stem: Conv2d<1, 4, 3, 1, 1>,
    relu0: ReLU,
    block1: Residual<Block4>,
    relu1: ReLU,
    pool: MaxPool2d<2>,
    flat: Flatten,
    fc: Linear<64, 3>,
}

/// A projection shortcut (strided 1x1 conv), a second identity block, a
/// global-average-pool head.
#[network(input = [1, 8, 8])]
pub struct ResNetProj {
    stem: Conv2d<1, 4, 3, 1, 1>,
    relu0: ReLU,
    block1: Residual<Block4>,
    relu1: ReLU,
    block2: ResidualProj<Down8, Conv2d<4, 8, 1, 2>>,
    relu2: ReLU,
    gap: GlobalAvgPool2d,
    fc: Linear<8, 3>,
}

#[network(input = [72])]
pub struct VecBlock {
    fc1: Linear<72, 16>,
    relu: ReLU,
    fc2: Linear<16, 72>,
}

/// A residual on a flattened feature map (NHWC order inside the integer
/// model), and a network that ends with a residual add (leaf branches).
#[network(input = [1, 8, 8])]
pub struct ResVec {
    conv: Conv2d<1, 2, 3>,
    relu: ReLU,
    flat: Flatten,
    block: Residual<VecBlock>,
    relu1: ReLU,
    fc: Linear<72, 4>,
    head: ResidualProj<Linear<4, 3>, Linear<4, 3>>,
}

/// Random samples with labels (`classes`).
fn data(n: usize, len: usize, classes: usize, seed: u64) -> InMemoryDataset {
    let mut rng = Rng::new(seed);
    let x: Vec<f32> = (0..n * len).map(|_| rng.normal() as f32).collect();
    let y: Vec<usize> = (0..n).map(|i| i % classes).collect();
    InMemoryDataset::new(x, y, len, classes).unwrap()
}

fn batch<S: Shape>(d: &InMemoryDataset, n: usize) -> Tensor<S> {
    Tensor::from_slice(&Cpu, n, &d.data()[..n * S::NUMEL]).unwrap()
}

/// Largest |a - b| relative to the largest |a|.
fn rel_err(a: &[f32], b: &[f32]) -> f32 {
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// `q`'s outputs on `x`, checked against `model`'s: the largest difference
/// below `tol` of the largest |f32 output|.
fn close_to_f32<N: Network<Cpu, f32>>(model: &N, q: &Quantized<N>, x: &Tensor<N::Input>, tol: f32) -> Vec<f32> {
    let (want, got) = (model.forward(x).to_vec(), q.forward(x).to_vec());
    let e = rel_err(&want, &got);
    assert!(e < tol, "relative error {e}: {want:?} vs {got:?}");
    got
}

/// Every integer GEMM path this CPU has gives the bits `got` on `x`.
fn paths_agree<N: Network<Cpu, f32>>(q: &mut Quantized<N>, x: &Tensor<N::Input>, got: &[f32]) {
    for p in QgemmPath::available() {
        q.set_path(p).unwrap();
        assert_eq!(q.forward(x).to_vec(), got, "path {p}");
    }
}

#[test]
fn doc_example_static() {
    let model = Tiny::init(&Cpu, 7);
    let calib = data(64, 64, 3, 1);
    let q: Quantized<Tiny> = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    close_to_f32(&model, &q, &batch::<S3<1, 8, 8>>(&calib, 2), 0.05);
    assert_eq!(q.layer_names(), vec!["conv", "fc"]);
}

#[test]
fn doc_example_dynamic() {
    let model = Mlp::init(&Cpu, 1);
    let q = quantize_dynamic(&model).unwrap();
    let x = Tensor::<S1<8>>::randn(&Cpu, 4, &mut Rng::new(2));
    let (want, got) = (model.forward(&x).to_vec(), q.forward(&x).to_vec());
    assert!(rel_err(&want, &got) < 0.03, "{want:?} vs {got:?}");
    // Every path gives the same bits.
    let mut q = q;
    for p in QgemmPath::available() {
        q.set_path(p).unwrap();
        assert_eq!(q.forward(&x).to_vec(), got, "{p}");
    }
}

#[test]
fn lenet_quantizes_close_to_f32_and_paths_agree_bit_for_bit() {
    let model = LeNet::init(&Cpu, 3);
    let calib = data(40, 784, 10, 4);
    let mut q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    let x = batch::<S3<1, 28, 28>>(&calib, 8);
    let got = close_to_f32(&model, &q, &x, 0.05);
    paths_agree(&mut q, &x, &got);
    // Batch 1 gives the same as the rows of a batch.
    let one = q.forward(&batch::<S3<1, 28, 28>>(&calib, 1)).to_vec();
    assert_eq!(one, got[..10]);
}

#[test]
fn saved_model_is_4x_smaller_and_loads_to_the_same_outputs() {
    let model = LeNet::init(&Cpu, 5);
    let calib = data(20, 784, 10, 6);
    let q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    let bytes = q.to_bytes().unwrap();
    let f32_bytes = checkpoint::save_to_bytes(&model).unwrap();
    let ratio = f32_bytes.len() as f64 / bytes.len() as f64;
    assert!(ratio >= 3.9, "size ratio {ratio}");
    let back = Quantized::<LeNet>::from_bytes(&bytes).unwrap();
    let x = batch::<S3<1, 28, 28>>(&calib, 3);
    assert_eq!(back.forward(&x).to_vec(), q.forward(&x).to_vec());
    // Through a file too.
    let path = std::env::temp_dir().join(format!("dl_quant_test_{}.safetensors", std::process::id()));
    q.save(&path).unwrap();
    let from_file = Quantized::<LeNet>::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(from_file.forward(&x).to_vec(), q.forward(&x).to_vec());
    // Another network's file, a float checkpoint, garbage: typed errors.
    assert!(matches!(
        Quantized::<LeNet>::from_bytes(&f32_bytes),
        Err(QuantError::Format(_))
    ));
    assert!(matches!(
        Quantized::<LeNet>::from_bytes(b"not a file"),
        Err(QuantError::Format(_))
    ));
    let tiny = quantize(&Tiny::init(&Cpu, 1), &data(4, 64, 3, 1), &QuantConfig::default()).unwrap();
    assert!(matches!(
        Quantized::<LeNet>::from_bytes(&tiny.to_bytes().unwrap()),
        Err(QuantError::Format(_))
    ));
}

#[test]
fn batchnorm_is_folded_and_pools_run_on_integers() {
    let mut model = BnNet::init(&Cpu, 11);
    // Non-trivial running statistics and affine parameters.
    let mut rng = Rng::new(3);
    model.visit_mut("", &mut |name, p| {
        if name.starts_with("bn1.") {
            let v: Vec<f32> = (0..p.numel())
                .map(|_| match name {
                    "bn1.running_var" => 0.5 + rng.uniform() as f32,
                    _ => rng.normal() as f32 * 0.5,
                })
                .collect();
            p.set_value(&v).unwrap();
        }
    });
    let calib = data(50, 3 * 144, 5, 8);
    let q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    assert_eq!(q.layer_names(), vec!["conv1+bn1", "conv2", "fc"]);
    close_to_f32(&model, &q, &batch::<S3<3, 12, 12>>(&calib, 6), 0.06);
    let report = q.error_report(&model, &calib, 20).unwrap();
    assert_eq!(report.layers.len(), 3);
    assert!(
        report.layers.iter().all(|l| l.local_sqnr_db > 20.0 && l.sqnr_db > 15.0),
        "{report}"
    );
    assert!(report.worst().is_some());
    assert!(report.to_string().contains("conv1+bn1"));
}

#[test]
fn percentile_observer_and_evaluate() {
    let model = Mlp::init(&Cpu, 2);
    let d = data(300, 8, 3, 9);
    let q = quantize(
        &model,
        &d,
        &QuantConfig::default()
            .observer(Observer::Percentile(99.9))
            .calibration_samples(200),
    )
    .unwrap();
    let mut m = model;
    let want = m
        .evaluate(&std::sync::Arc::new(d.clone()), &CrossEntropy::new(), 50)
        .unwrap();
    let got = q.evaluate(&d, 64).unwrap();
    assert_eq!(got.samples, 300);
    assert!((want.loss - got.loss).abs() < 0.05, "{want} vs {got}");
    let dynq = quantize_dynamic(&m).unwrap().evaluate(&d, 7).unwrap();
    assert!((want.loss - dynq.loss).abs() < 0.05, "{want} vs {dynq}");
}

#[test]
fn bad_input_gives_typed_errors() {
    let model = Mlp::init(&Cpu, 2);
    let empty = InMemoryDataset::new(vec![], vec![], 8, 3).unwrap();
    assert!(matches!(
        quantize(&model, &empty, &QuantConfig::default()),
        Err(QuantError::EmptyData)
    ));
    let wrong = data(4, 9, 3, 1);
    assert!(matches!(
        quantize(&model, &wrong, &QuantConfig::default()),
        Err(QuantError::SampleLen { expected: 8, got: 9 })
    ));
    let ok = data(4, 8, 3, 1);
    let bad = QuantConfig::default().observer(Observer::Percentile(20.0));
    assert!(matches!(quantize(&model, &ok, &bad), Err(QuantError::InvalidConfig(_))));
    let err = quantize(&WithSigmoid::init(&Cpu, 1), &data(4, 4, 2, 1), &QuantConfig::default()).unwrap_err();
    assert!(
        matches!(&err, QuantError::Unsupported { layer, .. } if layer == "act"),
        "{err}"
    );
    let q = quantize(&model, &ok, &QuantConfig::default()).unwrap();
    assert!(matches!(q.evaluate(&ok, 0), Err(QuantError::InvalidConfig(_))));
    assert!(matches!(q.evaluate(&wrong, 2), Err(QuantError::SampleLen { .. })));
    let mut q = q;
    for p in QgemmPath::ALL {
        assert_eq!(q.set_path(p).is_ok(), p.is_available());
    }
}

#[test]
fn fake_quant_layers_train_inside_a_network_and_quantize() {
    let mut model = QatMlp::init(&Cpu, 4);
    let d = std::sync::Arc::new(data(64, 8, 3, 2));
    let before = model.fq1.range.value_vec();
    model
        .fit(
            &d,
            FitConfig::new(Adam::new(1e-2), CrossEntropy::new())
                .epochs(2)
                .batch_size(16)
                .quiet(true),
        )
        .unwrap();
    let after = model.fq1.range.value_vec();
    assert_ne!(before, after, "the observer's range moves in training");
    assert!(after[0] <= 0.0 + 1e-6 && after[1] > 0.0, "{after:?}"); // after a ReLU: [0, max]
                                                                    // In evaluation, outputs lie on the grid of the observed range.
    model.eval();
    let x = Tensor::<S1<8>>::randn(&Cpu, 2, &mut Rng::new(1));
    let y = <FakeQuant as Layer<S1<8>, S1<8>, Cpu, f32>>::forward(&model.fq_in, &x).to_vec();
    let (s, z) = model.fq_in.qparams();
    for v in y {
        let q = v / s[0] + z[0] as f32;
        assert!((q - q.round()).abs() < 1e-3, "{v} is not on the grid");
    }
    // The range is a buffer in checkpoints; the quantizer sees FakeQuant as identity.
    let bytes = checkpoint::save_to_bytes(&model).unwrap();
    let mut back: QatMlp = QatMlp::init(&Cpu, 9);
    checkpoint::load_from_bytes(&mut back, &bytes, true).unwrap();
    assert_eq!(back.fq1.range.value_vec(), after);
    let q = quantize(&model, &*d, &QuantConfig::default()).unwrap();
    assert_eq!(q.layer_names(), vec!["fc1", "fc2"]);
}

/// Non-trivial BatchNorm statistics under `prefix`.
fn perturb_bn<N: Module<Cpu, f32>>(model: &mut N, prefix: &str, seed: u64) {
    let mut rng = Rng::new(seed);
    model.visit_mut("", &mut |name, p| {
        if name.starts_with(prefix) {
            let v: Vec<f32> = (0..p.numel())
                .map(|_| {
                    if name.ends_with("running_var") {
                        0.5 + rng.uniform() as f32
                    } else {
                        rng.normal() as f32 * 0.3 + if name.ends_with("weight") { 1.0 } else { 0.0 }
                    }
                })
                .collect();
            p.set_value(&v).unwrap();
        }
    });
}

/// Tolerance of the residual networks: the largest output difference at
/// most 6% of the largest |f32 output| (u8 activations carry ~0.4% of
/// their range per step; three to five requantizations add up).
const RES_TOL: f32 = 0.06;

#[test]
fn residual_block_quantizes_close_to_f32() {
    let mut model = ResNetTiny::init(&Cpu, 21);
    perturb_bn(&mut model, "block1.bn1.", 5);
    let calib = data(64, 64, 3, 22);
    let mut q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    assert_eq!(q.layer_names(), vec!["stem", "block1.conv1+bn1", "block1.conv2", "fc"]);
    let x = batch::<S3<1, 8, 8>>(&calib, 16);
    let got = close_to_f32(&model, &q, &x, RES_TOL);
    paths_agree(&mut q, &x, &got);
    // The report lists the block's layers and the add (with its fused ReLU).
    let report = q.error_report(&model, &calib, 32).unwrap();
    let names: Vec<&str> = report.layers.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["stem", "block1.conv1+bn1", "block1.conv2", "block1.add", "fc"]);
    assert_eq!(report.layers[3].kind, "Residual<Block4>");
    assert_eq!(report.layers[1].kind, "Conv2d<4, 4, 3, 1, 1>");
    assert!(
        report.layers.iter().all(|l| l.local_sqnr_db > 25.0 && l.sqnr_db > 20.0),
        "{report}"
    );
}

#[test]
fn residual_proj_quantizes_and_round_trips() {
    let model = ResNetProj::init(&Cpu, 23);
    let calib = data(64, 64, 3, 24);
    let q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    assert_eq!(
        q.layer_names(),
        vec![
            "stem",
            "block1.conv1+bn1",
            "block1.conv2",
            "block2.conv1",
            "block2.conv2",
            "block2.shortcut",
            "fc"
        ]
    );
    let x = batch::<S3<1, 8, 8>>(&calib, 16);
    let got = close_to_f32(&model, &q, &x, RES_TOL);
    // Batch 1 gives the rows of the batch.
    assert_eq!(q.forward(&batch::<S3<1, 8, 8>>(&calib, 1)).to_vec(), got[..3]);
    let report = q.error_report(&model, &calib, 0).unwrap();
    assert_eq!(report.samples, 64);
    assert!(report.to_string().contains("block2.shortcut"), "{report}");
    assert!(report.to_string().contains("block2.add"), "{report}");
    // Save / load: the same bits.
    let bytes = q.to_bytes().unwrap();
    let back = Quantized::<ResNetProj>::from_bytes(&bytes).unwrap();
    assert_eq!(back.forward(&x).to_vec(), got);
    // (A network this small is mostly per-layer scales, biases and names:
    // the 4x ratio is checked on LeNet above.)
    assert!(bytes.len() < checkpoint::save_to_bytes(&model).unwrap().len());
    // Another residual network's file: a typed error.
    assert!(matches!(
        Quantized::<ResNetTiny>::from_bytes(&bytes),
        Err(QuantError::Format(_))
    ));
}

#[test]
fn residual_on_vectors_and_as_the_last_layer() {
    let model = ResVec::init(&Cpu, 25);
    let calib = data(64, 64, 3, 26);
    let q = quantize(&model, &calib, &QuantConfig::default()).unwrap();
    assert_eq!(
        q.layer_names(),
        vec!["conv", "block.fc1", "block.fc2", "fc", "head", "head.shortcut"]
    );
    let x = batch::<S3<1, 8, 8>>(&calib, 16);
    let got = close_to_f32(&model, &q, &x, RES_TOL);
    let back = Quantized::<ResVec>::from_bytes(&q.to_bytes().unwrap()).unwrap();
    assert_eq!(back.forward(&x).to_vec(), got);
    let report = q.error_report(&model, &calib, 16).unwrap();
    assert_eq!(report.layers.last().unwrap().name, "head.add");
    assert_eq!(
        report.layers.last().unwrap().kind,
        "ResidualProj<Linear<4, 3>, Linear<4, 3>>"
    );
}
