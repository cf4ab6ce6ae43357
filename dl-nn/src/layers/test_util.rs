//! Test helpers shared by the layer files: a finite-difference check of a
//! layer's input gradient and of every trainable parameter's gradient.

use crate::module::Layer;
use dl_core::{Cpu, ParamKind, Rng, Shape, Tensor};

/// Checks `backward` of `layer` at input `x` with
/// [`crate::gradcheck::check_layer_gradients`] (the input gradient only
/// when `check_input`), panicking with the failure. Returns the number of
/// parameters checked.
#[track_caller]
pub(crate) fn check_layer<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(
    layer: &L,
    x: &Tensor<In, Cpu, f64>,
    check_input: bool,
) -> usize {
    crate::gradcheck::check_gradients(layer, x, check_input).unwrap_or_else(|e| panic!("{e}"))
}

/// `(name, dims, kind)` of every parameter and buffer, with `prefix`.
pub(crate) fn state_dict<L: crate::module::Module<Cpu, f32>>(
    l: &L,
    prefix: &str,
) -> Vec<(String, Vec<usize>, ParamKind)> {
    let mut v = vec![];
    l.visit(prefix, &mut |n, p| v.push((n.to_string(), p.dims.clone(), p.kind)));
    v
}

/// Sets every parameter and buffer of `m` to `scale` times standard normal
/// draws from `rng` (away from the initialisation's special values, such as
/// a norm's ones and zeros).
pub(crate) fn randomise<M: crate::module::Module<Cpu, f64>>(m: &mut M, rng: &mut Rng, scale: f64) {
    m.for_each_param(&mut |p| {
        let v: Vec<f64> = (0..p.numel()).map(|_| scale * rng.normal()).collect();
        p.set_value(&v).unwrap();
    });
}
