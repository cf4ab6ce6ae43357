//! Golden cases of kind `train_step`: one full training step of a small
//! network described by `params.layers` (`linear`, `relu`, `conv2d`,
//! `maxpool2d`, `flatten`), cross-entropy (mean) on `labels`, and one SGD
//! step, in `f32`.
//!
//! Every layer runs through the flat functions its typed layer calls
//! (`layers::linear`, `layers::activation`, `layers::conv2d`,
//! `layers::pool`), the loss through `loss::cross_entropy::cross_entropy_flat`
//! and the update through [`Sgd`]'s [`Optimizer::step`]. The runner compares
//! the logits, the loss, every parameter gradient and every parameter after
//! the step.

use super::loss_optim::Params;
use super::Case;
use crate::layers::conv2d::{conv2d_backward, conv2d_forward};
use crate::layers::linear::{linear_backward, linear_forward, WeightGrads};
use crate::loss::cross_entropy::{cross_entropy_flat, labels_to_idx};
use crate::optim::{Optimizer, Sgd};
use dl_core::ops::conv2d::Conv2dDims;
use dl_core::ops::pool2d::Pool2dDims;
use dl_core::ops::Relu;
use dl_core::GemmWorkspace;
use dl_core::{Backend, Cpu, ParamKind, RawParam};
use serde_json::Value;

/// One layer of the described network.
enum Op {
    Linear {
        w: usize,
        b: usize,
        in_f: usize,
        out_f: usize,
    },
    Relu,
    Conv {
        w: usize,
        b: Option<usize>,
        d: Conv2dDims,
    },
    MaxPool {
        d: Pool2dDims,
    },
    Flatten,
}

fn num(l: &Value, key: &str) -> Result<usize, String> {
    l.get(key)
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .ok_or_else(|| format!("layer {l}: missing integer `{key}`"))
}

/// Adds the parameter `name` (from the case) and returns its index.
fn param<B: Backend>(
    dev: &B,
    case: &Case,
    params: &mut Vec<RawParam<B, f32>>,
    names: &mut Vec<String>,
    name: String,
) -> Result<usize, String> {
    let t = case.t(&name)?;
    let mut p = RawParam::zeros(dev, t.shape.clone(), ParamKind::Trainable);
    p.set_value(&t.f32()).map_err(|e| e.to_string())?;
    params.push(p);
    names.push(name);
    Ok(params.len() - 1)
}

pub(super) fn run(case: &Case) -> Result<(), String> {
    run_on(&Cpu, case)
}

/// Runs a `train_step` case on `dev` (any backend: the CUDA tests run the
/// same cases on a GPU).
///
/// # Errors
/// The first mismatch or problem, as a message.
pub fn run_on<B: Backend>(dev: &B, case: &Case) -> Result<(), String> {
    let e = |e: dl_core::Error| e.to_string();
    let x = case.t("input")?;
    let n = x.shape[0];
    let labels = case.t("labels")?.indices();
    match case.params.get("loss") {
        Some(l)
            if l.get("type").and_then(Value::as_str) == Some("cross_entropy")
                && l.get("reduction").and_then(Value::as_str).unwrap_or("mean") == "mean" => {}
        other => return Err(format!("train_step: unsupported loss {other:?}")),
    }
    let layers = case
        .params
        .get("layers")
        .and_then(Value::as_array)
        .ok_or("train_step: no `layers` array")?;

    // Build the network, following the shape [n, ...] through it.
    let mut shape = x.shape.clone();
    let (mut params, mut names) = (Vec::new(), Vec::new());
    let mut ops = Vec::new();
    for l in layers {
        let ty = l.get("type").and_then(Value::as_str).ok_or("layer without `type`")?;
        let pname = |k: &str| -> Result<String, String> {
            let base = l
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("{ty} layer without `name`"))?;
            Ok(format!("{base}.{k}"))
        };
        let op = match ty {
            "linear" => {
                let (in_f, out_f) = (num(l, "in_features")?, num(l, "out_features")?);
                if shape != [n, in_f] {
                    return Err(format!("linear expects [{n}, {in_f}], gets {shape:?}"));
                }
                shape = vec![n, out_f];
                let w = param(dev, case, &mut params, &mut names, pname("weight")?)?;
                let b = param(dev, case, &mut params, &mut names, pname("bias")?)?;
                Op::Linear { w, b, in_f, out_f }
            }
            "relu" => Op::Relu,
            "flatten" => {
                if l.get("start_dim").and_then(Value::as_i64).unwrap_or(1) != 1
                    || l.get("end_dim").and_then(Value::as_i64).unwrap_or(-1) != -1
                {
                    return Err("flatten: only start_dim 1, end_dim -1".into());
                }
                shape = vec![n, shape[1..].iter().product()];
                Op::Flatten
            }
            "conv2d" => {
                let [_, c, h, w] = shape[..] else {
                    return Err(format!("conv2d expects [n, c, h, w], gets {shape:?}"));
                };
                let d = Conv2dDims {
                    n,
                    c_in: num(l, "in_channels")?,
                    h,
                    w,
                    c_out: num(l, "out_channels")?,
                    k: num(l, "kernel_size")?,
                    stride: num(l, "stride").unwrap_or(1),
                    pad: num(l, "padding").unwrap_or(0),
                };
                if d.c_in != c {
                    return Err(format!("conv2d expects {} channels, gets {c}", d.c_in));
                }
                d.validate().map_err(e)?;
                shape = vec![n, d.c_out, d.oh(), d.ow()];
                let wi = param(dev, case, &mut params, &mut names, pname("weight")?)?;
                let bi = if l.get("bias").and_then(Value::as_bool).unwrap_or(true) {
                    Some(param(dev, case, &mut params, &mut names, pname("bias")?)?)
                } else {
                    None
                };
                Op::Conv { w: wi, b: bi, d }
            }
            "maxpool2d" => {
                let [_, c, h, w] = shape[..] else {
                    return Err(format!("maxpool2d expects [n, c, h, w], gets {shape:?}"));
                };
                let k = num(l, "kernel_size")?;
                let d = Pool2dDims {
                    n,
                    c,
                    h,
                    w,
                    k,
                    stride: num(l, "stride").unwrap_or(k),
                    pad: num(l, "padding").unwrap_or(0),
                };
                d.validate().map_err(e)?;
                shape = vec![n, c, d.oh(), d.ow()];
                Op::MaxPool { d }
            }
            other => return Err(format!("train_step: unsupported layer type `{other}`")),
        };
        ops.push(op);
    }
    let [_, classes] = shape[..] else {
        return Err(format!("the network's output {shape:?} is not [n, classes]"));
    };

    // Forward, keeping every activation.
    let mut acts: Vec<B::Buf<f32>> = vec![dev.from_slice(&x.f32())];
    let mut argmax: Vec<B::Idx> = Vec::new();
    let mut ws = dev.zeros(0);
    for op in &ops {
        let xin = acts.last().expect("input");
        let mut y = dev.zeros(0);
        match op {
            Op::Linear { w, b, in_f, out_f } => {
                y = dev.zeros(n * out_f);
                linear_forward(
                    dev,
                    &mut GemmWorkspace::new(),
                    xin,
                    &params[*w].value,
                    Some(&params[*b].value),
                    &mut y,
                    n,
                    *in_f,
                    *out_f,
                );
            }
            Op::Relu => dev.unary_forward(Relu, xin, &mut y),
            Op::Flatten => y = xin.clone(),
            Op::Conv { w, b, d } => {
                let bias = b.map(|b| &params[b].value);
                conv2d_forward(
                    dev,
                    xin,
                    &params[*w].value,
                    bias,
                    &mut y,
                    *d,
                    &mut ws,
                    &mut GemmWorkspace::new(),
                )
                .map_err(e)?;
            }
            Op::MaxPool { d } => {
                let mut am = dev.idx_from_slice(&[]);
                d.validate().map_err(e)?;
                super::expect_len("pool input", dev.len(xin), d.x_len())?;
                dev.maxpool2d_forward(*d, xin, &mut y, &mut am);
                argmax.push(am);
            }
        }
        acts.push(y);
    }
    let logits = acts.last().expect("output");
    case.compare32("output", &dev.to_vec(logits))?;
    let idx = labels_to_idx(dev, &labels, classes).map_err(e)?;
    if labels.len() != n {
        return Err(format!("{} labels for a batch of {n}", labels.len()));
    }
    let mut dy = dev.zeros(0);
    let loss = cross_entropy_flat(dev, logits, &idx, n, classes, 0.0, &mut dy).map_err(e)?;
    case.compare32("loss", &[loss])?;

    // Backward in reverse; parameter gradients accumulate into `grad`.
    for (i, op) in ops.iter().enumerate().rev() {
        let (xin, yout) = (&acts[i], &acts[i + 1]);
        let need_dx = i > 0;
        let mut dx = dev.zeros(0);
        match op {
            Op::Linear { w, b, in_f, out_f } => {
                let (pw, pb) = two_mut(&mut params, *w, *b);
                if need_dx {
                    dx = dev.zeros(n * in_f);
                }
                linear_backward(
                    dev,
                    &mut GemmWorkspace::new(),
                    xin,
                    &pw.value,
                    &dy,
                    WeightGrads {
                        dx: need_dx.then_some(&mut dx),
                        dw: &mut pw.grad,
                        db: Some(&mut pb.grad),
                    },
                    n,
                    *in_f,
                    *out_f,
                );
            }
            Op::Relu => dev.unary_backward(Relu, xin, yout, &dy, &mut dx),
            Op::Flatten => dx = dy.clone(),
            Op::Conv { w, b, d } => {
                let mut db = b.map(|b| std::mem::replace(&mut params[b].grad, dev.zeros(0)));
                let pw = &mut params[*w];
                conv2d_backward(
                    dev,
                    xin,
                    &pw.value,
                    &dy,
                    WeightGrads {
                        dx: need_dx.then_some(&mut dx),
                        dw: &mut pw.grad,
                        db: db.as_mut(),
                    },
                    *d,
                    &mut ws,
                    &mut GemmWorkspace::new(),
                )
                .map_err(e)?;
                if let (Some(b), Some(db)) = (b, db) {
                    params[*b].grad = db;
                }
            }
            Op::MaxPool { d } => {
                let am = argmax.pop().expect("one argmax per pooling layer");
                super::expect_len("pool output gradient", dev.len(&dy), d.y_len())?;
                dev.maxpool2d_backward(*d, &am, &dy, &mut dx);
            }
        }
        dy = dx;
    }
    for (p, name) in params.iter().zip(&names) {
        case.compare32(&format!("grad_{name}"), &dev.to_vec(&p.grad))?;
    }

    // One SGD step through the optimizer.
    let o = case.params.get("optimizer").ok_or("train_step: no `optimizer`")?;
    if o.get("type").and_then(Value::as_str) != Some("sgd") {
        return Err(format!("train_step: unsupported optimizer {o}"));
    }
    let f = |k: &str| o.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let lr = o.get("lr").and_then(Value::as_f64).ok_or("optimizer without `lr`")?;
    let mut opt = Sgd::new(lr).momentum(f("momentum")).weight_decay(f("weight_decay"));
    let mut model: Params<f32, B> = Params(params);
    opt.step(&mut model);
    for (p, name) in model.0.iter().zip(&names) {
        case.compare32(&format!("{name}_after"), &dev.to_vec(&p.value))?;
    }
    let checked = 2 + 2 * names.len();
    if case.expected.len() != checked {
        return Err(format!(
            "case lists {} expected tensors, the runner checked {checked}",
            case.expected.len()
        ));
    }
    Ok(())
}

/// Two distinct elements of a slice, mutably.
fn two_mut<T>(v: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert!(a < b, "two_mut: indices out of order");
    let (l, r) = v.split_at_mut(b);
    (&mut l[a], &mut r[0])
}

#[cfg(test)]
mod tests {
    #[test]
    fn train_step_cases_pass() {
        super::super::run_kinds(&["train_step"]);
    }
}
