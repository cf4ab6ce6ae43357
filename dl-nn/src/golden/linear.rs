//! Golden cases of kind `linear`.

use super::Case;
use crate::layers::linear::{linear_backward, linear_forward, WeightGrads};
use dl_core::Cpu;
use dl_core::GemmWorkspace;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let x = case.t("input")?;
    let w = case.t("weight")?;
    // `[N, in]`, or a sequence `[N, T, in]`: the last axis holds the features.
    let in_f = *x.shape.last().ok_or("linear: scalar input")?;
    let n = x.numel() / in_f.max(1);
    let out_f = w.shape[0];
    let bias = if case.p_bool("bias").unwrap_or(true) {
        Some(case.t("bias")?.f32())
    } else {
        None
    };
    let (xv, wv) = (x.f32(), w.f32());
    let mut y = vec![0f32; n * out_f];
    linear_forward(
        &Cpu,
        &mut GemmWorkspace::new(),
        &xv,
        &wv,
        bias.as_ref(),
        &mut y,
        n,
        in_f,
        out_f,
    );
    case.compare32("output", &y)?;
    let dy = case.t("grad_out")?.f32();
    let mut dx = vec![0f32; n * in_f];
    let mut dw = vec![0f32; out_f * in_f];
    let mut db = vec![0f32; out_f];
    linear_backward(
        &Cpu,
        &mut GemmWorkspace::new(),
        &xv,
        &wv,
        &dy,
        WeightGrads {
            dx: Some(&mut dx),
            dw: &mut dw,
            db: bias.as_ref().map(|_| &mut db),
        },
        n,
        in_f,
        out_f,
    );
    case.compare32("grad_input", &dx)?;
    case.compare32("grad_weight", &dw)?;
    if bias.is_some() {
        case.compare32("grad_bias", &db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn linear_cases_pass() {
        super::super::run_kinds(&["linear"]);
    }
}
