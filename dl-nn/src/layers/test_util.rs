//! Test helpers shared by the layer files: a finite-difference check of a
//! layer's input gradient and of every trainable parameter's gradient.

use crate::module::Layer;
use dl_core::gradcheck::{check_gradient, GradCheck};
use dl_core::{Cpu, ParamKind, Shape, Tensor};

fn loss<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(l: &L, x: &Tensor<In, Cpu, f64>, g: &[f64]) -> f64 {
    // A clone, so that training-mode state (running statistics, the dropout
    // generator) is the same for every evaluation.
    let mut l = l.clone();
    let mut out = Tensor::empty(&Cpu);
    let mut cache = L::new_cache(&Cpu);
    l.forward_train(x, &mut out, &mut cache);
    out.to_vec().iter().zip(g).map(|(a, b)| a * b).sum()
}

/// Checks `backward` of `layer` at input `x` (through `forward_train`)
/// against central differences: the input gradient when `check_input`, and
/// every trainable parameter's gradient. Returns the number of parameters checked.
#[track_caller]
pub(crate) fn check_layer<In: Shape, Out: Shape, L: Layer<In, Out, Cpu, f64> + Clone>(
    layer: &L,
    x: &Tensor<In, Cpu, f64>,
    check_input: bool,
) -> usize {
    let mut l = layer.clone();
    l.zero_grad();
    let mut base = l.clone();
    let (mut out, mut dx) = (Tensor::empty(&Cpu), Tensor::empty(&Cpu));
    let mut cache = L::new_cache(&Cpu);
    l.forward_train(x, &mut out, &mut cache);
    let g: Vec<f64> = (0..out.len()).map(|i| 0.3 + (i as f64 * 0.77).sin()).collect();
    let gt = Tensor::from_slice(&Cpu, x.batch(), &g).unwrap();
    l.backward(x, &out, &cache, &gt, &mut dx);
    let opts = GradCheck {
        eps: 1e-6,
        rtol: 1e-5,
        atol: 1e-6,
    };
    if check_input {
        let f = |v: &[f64]| loss(&base, &Tensor::from_slice(&Cpu, x.batch(), v).unwrap(), &g);
        check_gradient(f, &x.to_vec(), &dx.to_vec(), opts).unwrap_or_else(|e| panic!("input gradient: {e}"));
    }
    let mut params = vec![];
    l.visit("", &mut |name, p| {
        if p.kind == ParamKind::Trainable {
            params.push((name.to_string(), p.value_vec(), p.grad_vec()));
        }
    });
    for (k, (name, value, grad)) in params.iter().enumerate() {
        let f = |v: &[f64]| {
            let mut i = 0;
            base.for_each_param(&mut |p| {
                if p.kind == ParamKind::Trainable {
                    if i == k {
                        p.set_value(v).unwrap();
                    }
                    i += 1;
                }
            });
            loss(&base, x, &g)
        };
        check_gradient(f, value, grad, opts).unwrap_or_else(|e| panic!("gradient of `{name}`: {e}"));
        let mut i = 0;
        base.for_each_param(&mut |p| {
            if p.kind == ParamKind::Trainable {
                if i == k {
                    p.set_value(value).unwrap();
                }
                i += 1;
            }
        });
    }
    params.len()
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
