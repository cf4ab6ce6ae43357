//! Issue 18's target: a user's layer with one parameter in at most 25 lines
//! (its backward included), used inside `#[network]`, trained by `fit`,
//! saved and loaded by name. `docs/custom-layers.md` walks through it.
use dl::core::ops::binary::{param_backward, param_forward, BinaryOp};
use dl::core::{init::Init, Backend, Float, Param};
use dl::nn::checkpoint;
use dl::prelude::*;
use std::sync::Arc;

// --- the layer ---
/// A learned per-feature scale, `y = x * weight` (`weight` `[N]`, starts at 1).
#[derive(Module, Clone, Debug)]
pub struct Scale<const N: usize, B: Backend = Cpu, E: Float = f32> {
    #[param(init = Init::Const(1.0))]
    pub weight: Param<S1<N>, B, E>,
}
impl<const N: usize, B: Backend, E: Float> OutputShape<S1<N>> for Scale<N, B, E> {
    type Out = S1<N>;
}
type T<const N: usize, B, E> = Tensor<S1<N>, B, E>;
impl<const N: usize, B: Backend, E: Float> Layer<S1<N>, S1<N>, B, E> for Scale<N, B, E> {
    type Cache = B::Buf<E>; // the batch's weight gradient, reused every step
    fn new_cache(dev: &B) -> B::Buf<E> {
        dev.zeros(0)
    }
    fn forward_into(&self, x: &T<N, B, E>, y: &mut T<N, B, E>) {
        param_forward(BinaryOp::Mul, x, &self.weight, y);
    }
    #[rustfmt::skip] // one line, as in docs/custom-layers.md
    fn backward_into(&mut self, x: &T<N, B, E>, _: &T<N, B, E>, dw: &mut B::Buf<E>, dy: &T<N, B, E>, dx: &mut T<N, B, E>) {
        param_backward(BinaryOp::Mul, x, &mut self.weight, dy, dx, dw);
    }
}
// --- end of the layer ---

#[network(input = [4])]
pub struct Scaled {
    scale: Scale<4>,
    fc: Linear<4, 2>,
}

/// The layer, counted from its source: every line from its doc comment to
/// the closing brace of its `Layer` impl (blank lines aside).
#[test]
fn the_layer_fits_in_25_lines() {
    let src = include_str!("custom_layer.rs");
    let start = src.find("// --- the layer ---\n").unwrap() + "// --- the layer ---\n".len();
    let end = src.find("// --- end of the layer ---").unwrap();
    let lines = src[start..end].lines().filter(|l| !l.trim().is_empty()).count();
    assert!(lines <= 25, "the custom layer takes {lines} lines");
    assert!(src[start..end].contains("fn backward"));
}

/// Its backward against finite differences, in one line.
#[test]
fn the_layer_passes_the_gradient_check() {
    let mut layer = Scale::<3, Cpu, f64>::init(&Cpu, 0);
    layer.weight.set_value(&[0.5, -2.0, 1.5]).unwrap();
    let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 2, vec![1.0, 2.0, -1.0, 0.5, -0.25, 3.0]).unwrap();
    dl::nn::check_layer_gradients(&layer, &x).unwrap();
}

/// Inside `#[network]`, trained by `fit`, saved and loaded by name.
#[test]
fn the_layer_trains_saves_and_loads() {
    // Class = which of two features is larger, with one feature 4x too large:
    // the scale has to learn to shrink it.
    let mut rng = Rng::new(3);
    let (mut xs, mut ys) = (vec![], vec![]);
    for _ in 0..256 {
        let v: Vec<f32> = (0..4).map(|_| rng.normal() as f32).collect();
        ys.push(usize::from(v[1] > v[0] / 4.0));
        xs.extend_from_slice(&v);
    }
    let data = Arc::new(InMemoryDataset::new(xs, ys, 4, 2).unwrap());
    let mut model = Scaled::init(&Cpu, 1);
    assert_eq!(<Scaled>::SUMMARY.layers[0].params, 4);
    let before = model.evaluate(&data, &CrossEntropy::new(), 64).unwrap();
    let cfg = FitConfig::new(Adam::new(0.05), CrossEntropy::new())
        .epochs(15)
        .batch_size(32)
        .quiet(true);
    model.fit(&data, cfg).unwrap();
    let after = model.evaluate(&data, &CrossEntropy::new(), 64).unwrap();
    assert!(after.loss < before.loss * 0.5, "{before} -> {after}");
    assert_ne!(model.scale.weight.value_vec(), vec![1.0; 4], "the scale was trained");

    let dir = std::env::temp_dir().join(format!("dl-custom-layer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scaled.safetensors");
    checkpoint::save(&model, &path).unwrap();
    let mut names = vec![];
    model.visit("", &mut |n, _| names.push(n.to_string()));
    assert_eq!(names, ["scale.weight", "fc.weight", "fc.bias"]);
    let mut fresh = Scaled::init(&Cpu, 99);
    checkpoint::load(&mut fresh, &path, true).unwrap();
    assert_eq!(fresh.scale.weight.value_vec(), model.scale.weight.value_vec());
    let x = Tensor::<S1<4>>::from_vec(&Cpu, 1, vec![1.0, -1.0, 0.5, 2.0]).unwrap();
    assert_eq!(fresh.forward(&x).to_vec(), model.forward(&x).to_vec());
    std::fs::remove_dir_all(&dir).ok();
}
