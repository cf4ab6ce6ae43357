//! Golden cases of the losses, regularizers and optimizers: `mse_loss`,
//! `cross_entropy`, `kl_div`, `bce_with_logits`, `l1_loss`, `distillation`, `l1_penalty`,
//! `l2_penalty`, `sgd`, `adagrad`, `rmsprop`, `adam`, `adamw`.
//!
//! Losses and penalties call the flat functions that the typed API calls
//! (`loss::*::*_flat`, `regularize::penalty_*flat`), in `f32`, with
//! dimensions read from the case's tensors. Optimizer cases build the
//! optimizer from the case's hyperparameters and drive it through
//! [`Optimizer::step`] on a runtime module holding the case's parameters
//! (in `f64`), feeding `X_grads[t]` and comparing `X_after[t]` at every step.

use super::Case;
use crate::loss::cross_entropy::{cross_entropy_flat, labels_to_idx};
use crate::loss::distill::{distillation_flat, DistillScratch};
use crate::loss::pointwise_flat;
use crate::module::Module;
use crate::optim::{Adagrad, Adam, AdamW, Optimizer, RmsProp, Sgd};
use crate::regularize::{penalty_flat, penalty_grad_flat};
use dl_core::ops::loss::PointwiseLoss;
use dl_core::ops::optim::Penalty;
use dl_core::{Backend, Cpu, Float, ParamKind, RawParam, Rng};

pub(super) fn run(case: &Case) -> Result<(), String> {
    match case.kind.as_str() {
        "mse_loss" | "l1_loss" | "bce_with_logits" | "kl_div" | "cross_entropy" => loss(case),
        "distillation" => distillation(case),
        "l1_penalty" => penalty(case, Penalty::L1),
        "l2_penalty" => penalty(case, Penalty::L2),
        "sgd" => optimizer(
            case,
            Sgd::new(case.p_f64("lr")?)
                .momentum(case.p_f64("momentum")?)
                .dampening(case.p_f64("dampening")?)
                .nesterov(case.p_bool("nesterov")?)
                .weight_decay(case.p_f64("weight_decay")?),
        ),
        "adagrad" => optimizer(
            case,
            Adagrad::new(case.p_f64("lr")?)
                .lr_decay(case.p_f64("lr_decay")?)
                .weight_decay(case.p_f64("weight_decay")?)
                .initial_accumulator_value(case.p_f64("initial_accumulator_value")?)
                .eps(case.p_f64("eps")?),
        ),
        "rmsprop" => optimizer(
            case,
            RmsProp::new(case.p_f64("lr")?)
                .alpha(case.p_f64("alpha")?)
                .eps(case.p_f64("eps")?)
                .weight_decay(case.p_f64("weight_decay")?)
                .momentum(case.p_f64("momentum")?)
                .centered(case.p_bool("centered")?),
        ),
        "adam" => {
            let (b1, b2) = betas(case)?;
            optimizer(
                case,
                Adam::new(case.p_f64("lr")?)
                    .betas(b1, b2)
                    .eps(case.p_f64("eps")?)
                    .weight_decay(case.p_f64("weight_decay")?)
                    .amsgrad(case.p_bool("amsgrad")?),
            )
        }
        "adamw" => {
            let (b1, b2) = betas(case)?;
            optimizer(
                case,
                AdamW::new(case.p_f64("lr")?)
                    .betas(b1, b2)
                    .eps(case.p_f64("eps")?)
                    .weight_decay(case.p_f64("weight_decay")?)
                    .amsgrad(case.p_bool("amsgrad")?),
            )
        }
        other => Err(format!("unknown case kind `{other}`")),
    }
}

fn betas(case: &Case) -> Result<(f64, f64), String> {
    let b = case
        .params
        .get("betas")
        .and_then(|v| v.as_array())
        .ok_or_else(|| format!("case `{}`: missing `betas`", case.name))?;
    match (b.first().and_then(|v| v.as_f64()), b.get(1).and_then(|v| v.as_f64())) {
        (Some(b1), Some(b2)) if b.len() == 2 => Ok((b1, b2)),
        _ => Err(format!("case `{}`: `betas` must be two numbers", case.name)),
    }
}

/// Checks that every expected tensor of the case is one this runner produces.
fn expect_only(case: &Case, produced: &[&str]) -> Result<(), String> {
    match case.expected_names()?.iter().find(|e| !produced.contains(&e.as_str())) {
        Some(e) => Err(format!(
            "expected tensor `{e}` is not produced for kind `{}`",
            case.kind
        )),
        None => Ok(()),
    }
}

fn loss(case: &Case) -> Result<(), String> {
    expect_only(case, &["loss", "grad_input"])?;
    let reduction = case.p_str("reduction")?;
    let wanted = if case.kind == "kl_div" { "batchmean" } else { "mean" };
    if reduction != wanted {
        return Err(format!("{}: unsupported reduction `{reduction}`", case.kind));
    }
    let x = case.t("input")?;
    let t = case.t("target")?;
    let xv = x.f32();
    let n = xv.len();
    let batch = x.shape.first().copied().unwrap_or(1);
    let mut grad = Vec::new();
    let e = |e: dl_core::Error| e.to_string();
    let l = match case.kind.as_str() {
        "cross_entropy" => {
            let classes: usize = x.shape[1..].iter().product();
            let smoothing = case.p_f64("label_smoothing").unwrap_or(0.0);
            let labels = labels_to_idx(&Cpu, &t.indices(), classes).map_err(e)?;
            if t.numel() != batch {
                return Err(format!("{} labels for a batch of {batch}", t.numel()));
            }
            cross_entropy_flat(&Cpu, &xv, &labels, batch, classes, smoothing, &mut grad).map_err(e)?
        }
        kind => {
            let tv = t.f32();
            match kind {
                // PyTorch's reductions: the mean over elements, or over
                // samples (`batchmean`) for KL.
                "mse_loss" => pointwise_flat(&Cpu, PointwiseLoss::Mse, &xv, &tv, n, 1.0 / n as f64, &mut grad),
                "l1_loss" => pointwise_flat(&Cpu, PointwiseLoss::L1, &xv, &tv, n, 1.0 / n as f64, &mut grad),
                "bce_with_logits" => pointwise_flat(
                    &Cpu,
                    PointwiseLoss::BceWithLogits,
                    &xv,
                    &tv,
                    n,
                    1.0 / n as f64,
                    &mut grad,
                ),
                _ => {
                    if case.p_bool("log_target").unwrap_or(false) {
                        return Err("kl_div: log_target = true is not supported".into());
                    }
                    pointwise_flat(&Cpu, PointwiseLoss::KlDiv, &xv, &tv, n, 1.0 / batch as f64, &mut grad)
                }
            }
            .map_err(e)?
        }
    };
    case.compare32("loss", &[l])?;
    case.compare32("grad_input", &grad)
}

/// Hinton's distillation loss: student logits `input`, `teacher` logits,
/// int64 `labels`, params `temperature` and `alpha`.
fn distillation(case: &Case) -> Result<(), String> {
    expect_only(case, &["loss", "grad_input"])?;
    let (temperature, alpha) = (case.p_f64("temperature")?, case.p_f64("alpha")?);
    let x = case.t("input")?;
    let t = case.t("teacher")?;
    if x.shape != t.shape || x.shape.len() != 2 {
        return Err(format!(
            "student {:?} and teacher {:?} must be the same [N, C]",
            x.shape, t.shape
        ));
    }
    let (rows, classes) = (x.shape[0], x.shape[1]);
    let labels = case.t("labels")?;
    if labels.numel() != rows {
        return Err(format!("{} labels for a batch of {rows}", labels.numel()));
    }
    let e = |e: dl_core::Error| e.to_string();
    let idx = labels_to_idx(&Cpu, &labels.indices(), classes).map_err(e)?;
    let mut grad = Vec::new();
    let mut scratch = DistillScratch::new(&Cpu);
    let l = distillation_flat(
        &Cpu,
        &x.f32(),
        &t.f32(),
        &idx,
        rows,
        classes,
        temperature,
        alpha,
        &mut grad,
        &mut scratch,
    )
    .map_err(e)?;
    case.compare32("loss", &[l])?;
    case.compare32("grad_input", &grad)
}

fn penalty(case: &Case, kind: Penalty) -> Result<(), String> {
    expect_only(case, &["penalty", "grad_weight"])?;
    let lambda = case.p_f64("lambda")?;
    let w = case.t("weight")?.f32();
    let p = penalty_flat(&Cpu, kind, lambda, &w);
    let mut g = vec![0f32; w.len()];
    penalty_grad_flat(&Cpu, kind, lambda, &w, &mut g);
    case.compare("penalty", &[p as f32 as f64])?;
    case.compare32("grad_weight", &g)
}

/// A module of runtime parameters (the case's), visited in order.
pub(super) struct Params<E: Float, B: Backend = Cpu>(pub(super) Vec<RawParam<B, E>>);

impl<B: Backend, E: Float> Module<B, E> for Params<E, B> {
    const NUM_PARAMS: usize = 0;
    fn init_with(_dev: &B, _rng: &mut Rng) -> Self {
        Params(Vec::new())
    }
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &RawParam<B, E>)) {
        for (i, p) in self.0.iter().enumerate() {
            f(&format!("{prefix}{i}"), p);
        }
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut RawParam<B, E>)) {
        for (i, p) in self.0.iter_mut().enumerate() {
            f(&format!("{prefix}{i}"), p);
        }
    }
    fn for_each_param(&mut self, f: &mut dyn FnMut(&mut RawParam<B, E>)) {
        self.0.iter_mut().for_each(f);
    }
}

fn optimizer<O: Optimizer<Cpu, f64>>(case: &Case, mut opt: O) -> Result<(), String> {
    let steps = case.p_usize("steps")?;
    // The parameters are the expected `X_after` names, in manifest order.
    let names: Vec<&str> = case
        .expected
        .iter()
        .map(|e| {
            e.strip_suffix("_after")
                .ok_or_else(|| format!("expected tensor `{e}` is not a `_after` tensor"))
        })
        .collect::<Result<_, _>>()?;
    if names.is_empty() {
        return Err(format!("case `{}` lists no expected tensor", case.name));
    }
    let mut params = Vec::new();
    for n in &names {
        let v = case.t(n)?;
        let mut p = RawParam::zeros(&Cpu, v.shape.clone(), ParamKind::Trainable);
        p.set_value(&v.data).map_err(|e| e.to_string())?;
        params.push(p);
    }
    let mut model = Params(params);
    opt.validate(&mut model)?;
    for t in 0..steps {
        for (p, n) in model.0.iter_mut().zip(&names) {
            let g = case.t(&format!("{n}_grads"))?;
            let k = p.numel();
            if g.numel() != steps * k {
                return Err(format!("{n}_grads: {} values for {steps} steps of {k}", g.numel()));
            }
            p.grad.copy_from_slice(&g.data[t * k..(t + 1) * k]);
        }
        opt.step(&mut model);
        for (p, n) in model.0.iter().zip(&names) {
            let name = format!("{n}_after");
            let e = case.t(&name)?;
            let k = p.numel();
            if e.numel() != steps * k {
                return Err(format!("{name}: {} values for {steps} steps of {k}", e.numel()));
            }
            for (i, (&a, &x)) in p.value.iter().zip(&e.data[t * k..(t + 1) * k]).enumerate() {
                if (a - x).abs() > case.atol + case.rtol * x.abs() {
                    return Err(format!("{name}[{t}][{i}]: got {a}, expected {x} (step {})", t + 1));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loss_cases_pass() {
        super::super::run_kinds(&["mse_loss", "cross_entropy", "kl_div", "bce_with_logits", "l1_loss"]);
    }
    #[test]
    fn distillation_cases_pass() {
        super::super::run_kinds(&["distillation"]);
    }
    #[test]
    fn penalty_cases_pass() {
        super::super::run_kinds(&["l1_penalty", "l2_penalty"]);
    }
    #[test]
    fn optimizer_cases_pass() {
        super::super::run_kinds(&["sgd", "adagrad", "rmsprop", "adam", "adamw"]);
    }
}
