//! Golden cases of the element-wise and normalisation kinds: `relu`,
//! `sigmoid`, `tanh`, `leaky_relu`, `gelu`, `softmax`, `log_softmax`,
//! `layernorm`, `batchnorm1d`, `batchnorm2d`.
//!
//! Every case calls the shape-agnostic functions that the typed layers call
//! (`layers::activation`, `layers::layernorm`, `layers::batchnorm`), in
//! `f32`, with dimensions read from the case's tensors. Each expected tensor
//! of the case must be produced and match; an expected name this runner
//! does not produce is a failure.

use super::Case;
use crate::layers::batchnorm::batchnorm_forward;
use dl_core::ops::batchnorm::{BatchNormConfig, BatchNormKernel, NormBwd, NormDims, NormFwd};
use dl_core::ops::layernorm::LayerNormKernel;
use dl_core::ops::softmax::{SoftmaxDims, SoftmaxKernel};
use dl_core::ops::util::UnaryKernel;
use dl_core::ops::util::UnaryOp;
use dl_core::ops::{Gelu, GeluTanh, LeakyRelu, Relu, Sigmoid, Tanh};
use dl_core::Cpu;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "relu" => unary(case, Relu)?,
        "sigmoid" => unary(case, Sigmoid)?,
        "tanh" => unary(case, Tanh)?,
        "leaky_relu" => unary(
            case,
            LeakyRelu {
                slope: case.p_f64("negative_slope").unwrap_or(0.01),
            },
        )?,
        "gelu" => match case.p_str("approximate").unwrap_or("none") {
            "none" => unary(case, Gelu)?,
            "tanh" => unary(case, GeluTanh)?,
            other => return Err(format!("gelu: unsupported approximate `{other}`")),
        },
        "softmax" => softmax(case, false)?,
        "log_softmax" => softmax(case, true)?,
        "layernorm" => layernorm(case)?,
        "batchnorm1d" | "batchnorm2d" => batchnorm(case)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    case.compare_all(&results)
}

/// Shape, input values and upstream gradient of a case.
type InputAndGrad = (Vec<usize>, Vec<f32>, Vec<f32>);

fn input_and_grad(case: &Case) -> Result<InputAndGrad, String> {
    let x = case.t("input")?;
    let dy = case.t("grad_out")?;
    if dy.shape != x.shape {
        return Err(format!(
            "grad_out shape {:?} differs from input {:?}",
            dy.shape, x.shape
        ));
    }
    Ok((x.shape.clone(), x.f32(), dy.f32()))
}

fn unary<Op: UnaryOp>(case: &Case, op: Op) -> Result<Vec<(&'static str, Vec<f32>)>, String> {
    let (_, x, dy) = input_and_grad(case)?;
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    Cpu.unary_forward(op, &x, &mut y);
    Cpu.unary_backward(op, &x, &y, &dy, &mut dx);
    Ok(vec![("output", y), ("grad_input", dx)])
}

/// `(rows, last)` of a shape, over its last axis.
fn rows_last(shape: &[usize]) -> Result<(usize, usize), String> {
    let last = *shape.last().ok_or("a scalar input has no last axis")?;
    let numel: usize = shape.iter().product();
    Ok((numel.checked_div(last).unwrap_or(0), last))
}

fn softmax(case: &Case, log: bool) -> Result<Vec<(&'static str, Vec<f32>)>, String> {
    let (shape, x, dy) = input_and_grad(case)?;
    let rank = shape.len() as i64;
    let dim = case.params.get("dim").and_then(|v| v.as_i64()).unwrap_or(-1);
    if dim != -1 && dim != rank - 1 {
        return Err(format!(
            "softmax over dim {dim} of a rank-{rank} input: only the last axis is supported"
        ));
    }
    let (rows, cols) = rows_last(&shape)?;
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    let d = SoftmaxDims::new(rows, cols, log);
    Cpu.softmax_forward(d, &x, &mut y);
    Cpu.softmax_backward(d, &y, &dy, &mut dx);
    Ok(vec![("output", y), ("grad_input", dx)])
}

/// Weight and bias of a normalisation case (ones and zeros without affine).
fn affine(case: &Case, n: usize) -> Result<(Vec<f32>, Vec<f32>), String> {
    let affine = case
        .p_bool("elementwise_affine")
        .or_else(|_| case.p_bool("affine"))
        .unwrap_or(true);
    let (w, b) = if affine {
        (case.t("weight")?.f32(), case.t("bias")?.f32())
    } else {
        (vec![1.0; n], vec![0.0; n])
    };
    if w.len() != n || b.len() != n {
        return Err(format!(
            "weight/bias have {}/{} elements, expected {n}",
            w.len(),
            b.len()
        ));
    }
    Ok((w, b))
}

fn layernorm(case: &Case) -> Result<Vec<(&'static str, Vec<f32>)>, String> {
    let (shape, x, dy) = input_and_grad(case)?;
    let (rows, dim) = rows_last(&shape)?;
    if let Some(ns) = case.params.get("normalized_shape").and_then(|v| v.as_array()) {
        if ns.len() != 1 || ns[0].as_u64() != Some(dim as u64) {
            return Err(format!(
                "normalized_shape {ns:?}: only the last dimension ({dim}) is supported"
            ));
        }
    }
    let eps = case.p_f64("eps").unwrap_or(1e-5);
    let (w, b) = affine(case, dim)?;
    Ok(norm_case(
        (&x, &w, &b, &dy),
        |bufs| Cpu.layernorm_forward(rows, dim, eps, bufs),
        |bufs| Cpu.layernorm_backward(rows, dim, bufs),
    ))
}

/// Runs a normalisation case's forward (`fwd`) and backward (`bwd`) kernels
/// on its input, weight, bias and output gradient: the output and the
/// gradients of the input, weight and bias.
fn norm_case(
    (x, w, b, dy): (&Vec<f32>, &Vec<f32>, &Vec<f32>, &Vec<f32>),
    fwd: impl FnOnce(NormFwd<'_, Vec<f32>>),
    bwd: impl FnOnce(NormBwd<'_, Vec<f32>>),
) -> Vec<(&'static str, Vec<f32>)> {
    let (mut y, mut mean, mut rstd) = (Vec::new(), Vec::new(), Vec::new());
    fwd(NormFwd {
        x,
        gamma: w,
        beta: b,
        y: &mut y,
        mean: &mut mean,
        rstd: &mut rstd,
    });
    let (mut dx, mut dw, mut db) = (Vec::new(), vec![0f32; w.len()], vec![0f32; w.len()]);
    bwd(NormBwd {
        x,
        gamma: w,
        mean: &mean,
        rstd: &rstd,
        dy,
        dx: &mut dx,
        dgamma: &mut dw,
        dbeta: &mut db,
    });
    vec![
        ("output", y),
        ("grad_input", dx),
        ("grad_weight", dw),
        ("grad_bias", db),
    ]
}

fn batchnorm(case: &Case) -> Result<Vec<(&'static str, Vec<f32>)>, String> {
    let (shape, x, dy) = input_and_grad(case)?;
    if shape.len() < 2 {
        return Err(format!("batch norm input of shape {shape:?}: expected [N, C, ...]"));
    }
    let d = NormDims {
        outer: shape[0],
        channels: shape[1],
        inner: shape[2..].iter().product(),
    };
    let cfg = BatchNormConfig {
        eps: case.p_f64("eps").unwrap_or(1e-5),
        momentum: case.p_f64("momentum").unwrap_or(0.1),
    };
    let training = case.p_bool("training")?;
    let (w, b) = affine(case, d.channels)?;
    let mut rm = case.t("running_mean")?.f32();
    let mut rv = case.t("running_var")?.f32();
    if rm.len() != d.channels || rv.len() != d.channels {
        return Err(format!("running statistics must have {} elements", d.channels));
    }
    let mut results = norm_case(
        (&x, &w, &b, &dy),
        |bufs| batchnorm_forward(&Cpu, d, cfg, training, &mut rm, &mut rv, bufs),
        |bufs| Cpu.batchnorm_backward(d, training, bufs),
    );
    results.extend([("running_mean_after", rm), ("running_var_after", rv)]);
    Ok(results)
}

#[cfg(test)]
mod tests {
    #[test]
    fn elementwise_cases_pass() {
        super::super::run_kinds(&[
            "relu",
            "sigmoid",
            "tanh",
            "softmax",
            "log_softmax",
            "leaky_relu",
            "gelu",
            "layernorm",
            "batchnorm1d",
            "batchnorm2d",
        ]);
    }
}
