//! The generated API: summary, state_dict names, nesting, determinism,
//! cache reuse, the `Layer`/`Network` impls, generic backends and f64.
use dl::prelude::*;

/// The mnist_cnn network, declared once in examples/common/lenet.rs.
#[path = "../examples/common/lenet.rs"]
mod lenet;
use lenet::LeNet;

/// A block: doc comments on the struct are kept.
#[network(input = [8])]
pub struct Block {
    /// The block's linear layer.
    fc: Linear<8, 8>,
    act: Tanh,
}

#[network(input = [4])]
pub struct WithBlocks {
    fc: Linear<4, 8>,
    block: Block,
    res: Residual<Block>,
    proj: ResidualProj<Block, Linear<8, 8>>,
    drop: Dropout<50>,
    head: Linear<8, 2>,
}

#[test]
fn lenet_summary_is_computed_at_compile_time() {
    const S: dl::nn::summary::Summary = <LeNet>::SUMMARY;
    assert_eq!(S.name, "LeNet");
    assert_eq!(S.input_shape, &[1, 28, 28]);
    let rows: Vec<(&str, &str, &[usize], usize)> = S
        .layers
        .iter()
        .map(|l| (l.name, l.kind, l.output_shape, l.params))
        .collect();
    assert_eq!(
        rows[0],
        ("conv1", "Conv2d<1, 32, 3>", &[32usize, 26, 26][..], 32 * 9 + 32)
    );
    assert_eq!(rows[2], ("pool1", "MaxPool2d<2>", &[32usize, 13, 13][..], 0));
    assert_eq!(rows[5].2, &[64, 5, 5]);
    assert_eq!(rows[6], ("flat", "Flatten", &[1600usize][..], 0));
    assert_eq!(rows[7].3, 1600 * 128 + 128);
    assert_eq!(rows[9].2, &[10]);
    let total = 320 + (32 * 64 * 9 + 64) + (1600 * 128 + 128) + (128 * 10 + 10);
    assert_eq!(S.total_params, total);
    assert_eq!(<LeNet as Module<Cpu, f32>>::NUM_PARAMS, total);
    let text = S.to_string();
    assert!(
        text.contains("fc1 (Linear<1600, 128>)") && text.contains("[64, 5, 5]"),
        "{text}"
    );
    // Through the `Network` trait as well.
    assert_eq!(<LeNet as Network<Cpu, f32>>::summary(), &S);
}

#[test]
fn lenet_forward_shapes_and_state_dict_names() {
    let model: LeNet = LeNet::init(&Cpu, 0);
    let x = Tensor::<S3<1, 28, 28>>::zeros(&Cpu, 3);
    let y: Tensor<S1<10>> = model.forward(&x);
    assert_eq!(y.shape(), vec![3, 10]);
    let mut names = Vec::new();
    model.visit("", &mut |n, p| names.push((n.to_string(), p.dims.clone())));
    assert_eq!(
        names,
        vec![
            ("conv1.weight".to_string(), vec![32, 1, 3, 3]),
            ("conv1.bias".to_string(), vec![32]),
            ("conv2.weight".to_string(), vec![64, 32, 3, 3]),
            ("conv2.bias".to_string(), vec![64]),
            ("fc1.weight".to_string(), vec![128, 1600]),
            ("fc1.bias".to_string(), vec![128]),
            ("fc2.weight".to_string(), vec![10, 128]),
            ("fc2.bias".to_string(), vec![10]),
        ]
    );
}

#[test]
fn nested_names_follow_pytorch_state_dict() {
    let model: WithBlocks = WithBlocks::init(&Cpu, 1);
    let mut names = Vec::new();
    model.visit("", &mut |n, _| names.push(n.to_string()));
    assert_eq!(
        names,
        [
            "fc.weight",
            "fc.bias",
            "block.fc.weight",
            "block.fc.bias",
            "res.fc.weight",
            "res.fc.bias",
            "proj.fc.weight",
            "proj.fc.bias",
            "proj.shortcut.weight",
            "proj.shortcut.bias",
            "head.weight",
            "head.bias",
        ]
    );
    // A prefix is prepended (as when this network is itself nested).
    let mut first = String::new();
    model.visit("net.", &mut |n, _| {
        if first.is_empty() {
            first = n.to_string();
        }
    });
    assert_eq!(first, "net.fc.weight");
    // The summary row of a nested network counts its parameters.
    assert_eq!(<WithBlocks>::SUMMARY.layers[1].params, 72);
    assert_eq!(<WithBlocks>::SUMMARY.layers[1].output_shape, &[8]);
}

#[test]
fn init_is_deterministic_and_fields_are_initialised_in_order() {
    let a: LeNet = LeNet::init(&Cpu, 42);
    let b: LeNet = LeNet::init(&Cpu, 42);
    let c: LeNet = LeNet::init(&Cpu, 43);
    assert_eq!(a.fc2.weight.value_vec(), b.fc2.weight.value_vec());
    assert_ne!(a.fc2.weight.value_vec(), c.fc2.weight.value_vec());
    // Field order: the first field draws first from the seeded generator.
    let conv = <Conv2d<1, 32, 3> as Module<Cpu, f32>>::init(&Cpu, 42);
    assert_eq!(a.conv1.weight.value_vec(), conv.weight.value_vec());
}

#[test]
fn train_eval_reach_nested_layers() {
    let mut m: WithBlocks = WithBlocks::init(&Cpu, 2);
    let x = Tensor::<S1<4>>::randn(&Cpu, 8, &mut Rng::new(3));
    m.eval();
    assert!(!m.drop.is_training());
    let (y1, _) = m.forward_train(&x);
    assert_eq!(y1.to_vec(), m.forward(&x).to_vec());
    m.train();
    assert!(m.drop.is_training());
    let (y2, _) = m.forward_train(&x);
    assert_ne!(y1.to_vec(), y2.to_vec(), "dropout is active in training mode");
}

#[test]
fn forward_train_with_reuses_the_cache() {
    let mut m: LeNet = LeNet::init(&Cpu, 5);
    let x = Tensor::<S3<1, 28, 28>>::randn(&Cpu, 2, &mut Rng::new(6));
    let (y, mut fresh_cache) = m.forward_train(&x);
    let dx_fresh = m.backward(&mut fresh_cache, &y);

    let mut cache = LeNet::new_cache(&Cpu);
    let mut dx = Tensor::empty(&Cpu);
    m.forward_train_with(&x, &mut cache);
    let dy = cache.output().clone();
    m.backward_with(&mut cache, &dy, &mut dx);
    let ptrs = (
        cache.conv1.as_slice().as_ptr(),
        cache.flat.as_slice().as_ptr(),
        cache.output.as_slice().as_ptr(),
        cache.grads.fc1.as_slice().as_ptr(),
        dx.as_slice().as_ptr(),
    );
    // Second step, same batch: same results, same buffers.
    let out = m.forward_train_with(&x, &mut cache).to_vec();
    assert_eq!(out, y.to_vec());
    m.backward_with(&mut cache, &dy, &mut dx);
    assert_eq!(dx.to_vec(), dx_fresh.to_vec());
    assert_eq!(
        ptrs,
        (
            cache.conv1.as_slice().as_ptr(),
            cache.flat.as_slice().as_ptr(),
            cache.output.as_slice().as_ptr(),
            cache.grads.fc1.as_slice().as_ptr(),
            dx.as_slice().as_ptr(),
        )
    );
    assert_eq!(cache.input().to_vec(), x.to_vec());
}

#[test]
fn layer_impl_matches_inherent_api() {
    // The network used through the `Layer` trait, as when it is nested.
    let mut a: WithBlocks = WithBlocks::init(&Cpu, 9);
    let mut b = a.clone();
    a.eval();
    b.eval();
    let x = Tensor::<S1<4>>::randn(&Cpu, 3, &mut Rng::new(10));
    let dy = Tensor::<S1<2>>::randn(&Cpu, 3, &mut Rng::new(11));
    let (ya, mut cache_a) = a.forward_train(&x);
    let dxa = a.backward(&mut cache_a, &dy);
    let mut yb = Tensor::empty(&Cpu);
    let mut cache_b = <WithBlocks as Layer<S1<4>, S1<2>, Cpu, f32>>::new_cache(&Cpu);
    let mut dxb = Tensor::empty(&Cpu);
    Layer::forward_train_into(&mut b, &x, &mut yb, &mut cache_b);
    Layer::backward_into(&mut b, &x, &yb, &mut cache_b, &dy, &mut dxb);
    assert_eq!(ya.to_vec(), yb.to_vec());
    assert_eq!(dxa.to_vec(), dxb.to_vec());
    assert_eq!(a.fc.weight.grad_vec(), b.fc.weight.grad_vec());
}

/// Code generic over the backend, as a training helper would be.
fn step<N, B: Backend>(model: &mut N, x: &Tensor<N::Input, B, f32>) -> usize
where
    N: Network<B, f32>,
{
    let dev = x.device().clone();
    let mut out = Tensor::empty(&dev);
    let mut cache = N::new_cache(&dev);
    model.forward_train_into(x, &mut out, &mut cache);
    let mut dx = Tensor::empty(&dev);
    let dy = out.clone();
    model.backward_into(x, &out, &mut cache, &dy, &mut dx);
    out.len()
}

#[test]
fn generic_backend_code_drives_generated_networks() {
    let mut m: LeNet = LeNet::init(&Cpu, 0);
    let x = Tensor::<S3<1, 28, 28>>::zeros(&Cpu, 2);
    assert_eq!(step(&mut m, &x), 20);
}

#[test]
fn f64_networks() {
    let m = LeNet::<Cpu, f64>::init(&Cpu, 0);
    let y = m.forward(&Tensor::<S3<1, 28, 28>, Cpu, f64>::zeros(&Cpu, 1));
    assert_eq!(y.shape(), vec![1, 10]);
    assert!(y.all_finite());
}

#[test]
fn debug_and_clone() {
    let m: Block = Block::init(&Cpu, 0);
    let text = format!("{m:?}");
    assert!(text.starts_with("Block") && text.contains("fc"), "{text}");
    assert_eq!(m.clone().fc.weight.value_vec(), m.fc.weight.value_vec());
}
