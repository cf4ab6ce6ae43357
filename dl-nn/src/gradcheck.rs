//! A layer's backward against finite differences, in one call from a
//! user's test: the backward of a custom layer is its author's to get right.
//!
//! ```
//! use dl_core::prelude::*;
//! use dl_nn::prelude::*;
//! let layer = Linear::<3, 2, Cpu, f64>::init(&Cpu, 0);
//! let x = Tensor::<S1<3>, Cpu, f64>::from_vec(&Cpu, 2, vec![0.1, -0.2, 0.3, 1.0, 0.5, -1.5]).unwrap();
//! dl_nn::check_layer_gradients(&layer, &x).unwrap();
//! ```

use crate::module::Layer;
use dl_core::gradcheck::{check_gradient, GradCheck, GradCheckFailure};
use dl_core::{Cpu, ParamKind, Shape, Tensor};

/// A gradient of a layer that disagrees with its finite-difference estimate.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("the gradient of {what}: {failure}")]
pub struct LayerGradError {
    /// `the input` or `parameter `weight``.
    pub what: String,
    /// Where and by how much.
    pub failure: GradCheckFailure,
}

/// `sum(forward_train(x) * g)` on a clone of `l` (so that training-mode
/// state, such as running statistics or a dropout generator, is the same
/// for every evaluation).
fn loss<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(l: &L, x: &Tensor<In, Cpu, f64>, g: &[f64]) -> f64 {
    let mut l = l.clone();
    let mut out = Tensor::empty(&Cpu);
    let mut cache = L::new_cache(&Cpu);
    l.forward_train_into(x, &mut out, &mut cache);
    out.to_vec().iter().zip(g).map(|(a, b)| a * b).sum()
}

/// Checks `layer`'s `backward` at input `x` (through `forward_train`, in
/// f64) against central differences: the input gradient and every
/// trainable parameter's gradient. Returns the number of parameters
/// checked.
///
/// # Errors
/// [`LayerGradError`] naming the first gradient that disagrees.
pub fn check_layer_gradients<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(
    layer: &L,
    x: &Tensor<In, Cpu, f64>,
) -> Result<usize, LayerGradError> {
    check_gradients(layer, x, true)
}

/// [`check_layer_gradients`], the input gradient only when `check_input`
/// (not for layers whose input is data, such as token ids).
///
/// # Errors
/// As [`check_layer_gradients`].
pub fn check_gradients<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(
    layer: &L,
    x: &Tensor<In, Cpu, f64>,
    check_input: bool,
) -> Result<usize, LayerGradError> {
    let mut l = layer.clone();
    l.zero_grad();
    let mut base = l.clone();
    let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
    let mut cache = L::new_cache(&Cpu);
    l.forward_train_into(x, &mut out, &mut cache);
    let g: Vec<f64> = (0..out.len()).map(|i| 0.3 + (i as f64 * 0.77).sin()).collect();
    let gt = Tensor::from_slice(&Cpu, x.batch(), &g).expect("the output's own length");
    l.backward_into(x, &out, &mut cache, &gt, &mut dx);
    let opts = GradCheck {
        eps: 1e-6,
        rtol: 1e-5,
        atol: 1e-6,
    };
    let fail = |what: String| move |failure| LayerGradError { what, failure };
    if check_input {
        let f = |v: &[f64]| loss(&base, &Tensor::from_slice(&Cpu, x.batch(), v).expect("x's length"), &g);
        check_gradient(f, &x.to_vec(), &dx.to_vec(), opts).map_err(fail("the input".into()))?;
    }
    let mut params = vec![];
    l.visit("", &mut |name, p| {
        if p.kind == ParamKind::Trainable {
            params.push((name.to_string(), p.value_vec(), p.grad_vec()));
        }
    });
    // Sets the `k`-th trainable parameter of `base` to `v`.
    let set = |base: &mut L, k: usize, v: &[f64]| {
        let mut i = 0;
        base.for_each_param(&mut |p| {
            if p.kind == ParamKind::Trainable {
                if i == k {
                    p.set_value(v).expect("the parameter's own length");
                }
                i += 1;
            }
        });
    };
    for (k, (name, value, grad)) in params.iter().enumerate() {
        let f = |v: &[f64]| {
            set(&mut base, k, v);
            loss(&base, x, &g)
        };
        let checked = check_gradient(f, value, grad, opts);
        set(&mut base, k, value);
        checked.map_err(fail(format!("parameter `{name}`")))?;
    }
    Ok(params.len())
}
