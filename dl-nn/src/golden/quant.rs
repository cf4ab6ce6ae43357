//! Golden cases of kind `fake_quant` (per tensor and per channel).

use super::Case;
use crate::quant::{fake_quant_backward, fake_quant_forward, QuantGrid};

pub(super) fn run(case: &Case) -> Result<(), String> {
    let x = case.t("input")?;
    let scale = case.t("scale")?.f32();
    let zp: Vec<i32> = case.t("zero_point")?.f32().iter().map(|&v| v as i32).collect();
    let (qmin, qmax) = (case.p_f64("quant_min")? as i32, case.p_f64("quant_max")? as i32);
    let dims = if case.p_bool("per_channel")? {
        let axis = case.p_usize("axis")?;
        let outer: usize = x.shape[..axis].iter().product();
        let inner: usize = x.shape[axis + 1..].iter().product();
        (outer, x.shape[axis], inner)
    } else {
        (1, 1, x.numel())
    };
    let grid = QuantGrid {
        scale: &scale,
        zero_point: &zp,
        dims,
        qmin,
        qmax,
    };
    let xv = x.f32();
    let mut y = vec![0f32; xv.len()];
    fake_quant_forward(&xv, grid, &mut y);
    case.compare32("output", &y)?;
    let dy = case.t("grad_out")?.f32();
    let mut dx = vec![0f32; xv.len()];
    fake_quant_backward(&xv, grid, &dy, &mut dx);
    case.compare32("grad_input", &dx)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fake_quant_cases_pass() {
        super::super::run_kinds(&["fake_quant"]);
    }
}
