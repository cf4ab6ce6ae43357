//! Golden cases of the spatial kinds: `conv2d`, `maxpool2d`, `avgpool2d`,
//! `global_avg_pool2d`, `flatten`.
//!
//! Shapes come from the case's tensors and hyperparameters from its
//! `params`; every case calls the kernels and shape-agnostic functions that the
//! typed layers call (`layers::conv2d`, the pooling kernels, `layers::flatten`), in
//! `f32`. Hyperparameters this framework does not support (dilation,
//! groups, ceil mode, `count_include_pad = false`, non-square windows) are
//! reported as failures, not ignored. Every expected tensor must be produced
//! and match.

use super::expect_len;
use super::Case;
use crate::layers::conv2d::{conv2d_backward, conv2d_forward};
use crate::layers::flatten::{flatten_backward, flatten_forward};
use crate::layers::linear::WeightGrads;
use dl_core::ops::conv2d::Conv2dDims;
use dl_core::ops::pool2d::{Pool2dDims, Pool2dKernel};
use dl_core::Cpu;
use dl_core::GemmWorkspace;
use serde_json::Value;

type Results = Vec<(&'static str, Vec<f32>)>;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "conv2d" => conv2d(case)?,
        "maxpool2d" => pool(case, true)?,
        "avgpool2d" => pool(case, false)?,
        "global_avg_pool2d" => global_avg(case)?,
        "flatten" => flatten(case)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    case.compare_all(&results)
}

/// A square-window hyperparameter: an integer or a pair of equal integers.
fn square(case: &Case, key: &str, default: Option<usize>) -> Result<usize, String> {
    match case.params.get(key) {
        None | Some(Value::Null) => default.ok_or_else(|| format!("case `{}`: missing `{key}`", case.name)),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("`{key}` = {n} is not a non-negative integer")),
        Some(Value::Array(a)) if a.len() == 2 && a[0] == a[1] => a[0]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("`{key}` = {a:?} is not a pair of non-negative integers")),
        Some(v) => Err(format!("`{key}` = {v}: only square windows are supported")),
    }
}

/// Rejects a hyperparameter that is present with a value other than `ok`.
fn require(case: &Case, key: &str, ok: &Value) -> Result<(), String> {
    match case.params.get(key) {
        Some(v) if v != ok && !(v.is_array() && v.as_array().is_some_and(|a| a.iter().all(|e| e == ok))) => {
            Err(format!("`{key}` = {v} is not supported (only {ok})"))
        }
        _ => Ok(()),
    }
}

/// An NCHW shape, the input values and the upstream gradient.
type Nchw = ([usize; 4], Vec<f32>, Vec<f32>);

/// The NCHW input and its upstream gradient, with the input's shape.
fn input_nchw(case: &Case) -> Result<Nchw, String> {
    let x = case.t("input")?;
    let s: [usize; 4] = x
        .shape
        .as_slice()
        .try_into()
        .map_err(|_| format!("input of shape {:?}: expected [N, C, H, W]", x.shape))?;
    Ok((s, x.f32(), case.t("grad_out")?.f32()))
}

fn conv2d(case: &Case) -> Result<Results, String> {
    require(case, "dilation", &Value::from(1))?;
    require(case, "groups", &Value::from(1))?;
    let (s, x, dy) = input_nchw(case)?;
    let w = case.t("weight")?;
    if w.shape.len() != 4 || w.shape[2] != w.shape[3] || w.shape[1] != s[1] {
        return Err(format!("weight of shape {:?} for input {s:?}", w.shape));
    }
    let k = square(case, "kernel_size", Some(w.shape[2]))?;
    if k != w.shape[2] {
        return Err(format!("kernel_size {k} but weight {:?}", w.shape));
    }
    for (key, v) in [("in_channels", s[1]), ("out_channels", w.shape[0])] {
        if let Ok(p) = case.p_usize(key) {
            if p != v {
                return Err(format!("{key} = {p} but the tensors say {v}"));
            }
        }
    }
    let d = Conv2dDims {
        n: s[0],
        c_in: s[1],
        h: s[2],
        w: s[3],
        c_out: w.shape[0],
        k,
        stride: square(case, "stride", Some(1))?,
        pad: square(case, "padding", Some(0))?,
    };
    let bias = if case.p_bool("bias").unwrap_or(true) {
        Some(case.t("bias")?.f32())
    } else {
        None
    };
    let wv = w.f32();
    let (mut y, mut ws) = (Vec::new(), Vec::new());
    conv2d_forward(
        &Cpu,
        &x,
        &wv,
        bias.as_ref(),
        &mut y,
        d,
        &mut ws,
        &mut GemmWorkspace::new(),
    )
    .map_err(|e| e.to_string())?;
    let (mut dx, mut dw, mut db) = (Vec::new(), vec![0f32; wv.len()], vec![0f32; d.c_out]);
    let dbo = bias.as_ref().map(|_| &mut db);
    conv2d_backward(
        &Cpu,
        &x,
        &wv,
        &dy,
        WeightGrads {
            dx: Some(&mut dx),
            dw: &mut dw,
            db: dbo,
        },
        d,
        &mut ws,
        &mut GemmWorkspace::new(),
    )
    .map_err(|e| e.to_string())?;
    let mut r = vec![("output", y), ("grad_input", dx), ("grad_weight", dw)];
    if bias.is_some() {
        r.push(("grad_bias", db));
    }
    Ok(r)
}

fn pool(case: &Case, max: bool) -> Result<Results, String> {
    require(case, "ceil_mode", &Value::Bool(false))?;
    require(case, "dilation", &Value::from(1))?;
    if !max {
        require(case, "count_include_pad", &Value::Bool(true))?;
        if case.params.get("divisor_override").is_some_and(|v| !v.is_null()) {
            return Err("divisor_override is not supported".into());
        }
    }
    let (s, x, dy) = input_nchw(case)?;
    let k = square(case, "kernel_size", None)?;
    let d = Pool2dDims {
        n: s[0],
        c: s[1],
        h: s[2],
        w: s[3],
        k,
        // PyTorch: stride defaults to the kernel size.
        stride: square(case, "stride", Some(k))?,
        pad: square(case, "padding", Some(0))?,
    };
    d.validate().map_err(|e| e.to_string())?;
    expect_len("input", x.len(), d.x_len())?;
    expect_len("grad_output", dy.len(), d.y_len())?;
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    if max {
        let mut idx = Vec::new();
        Cpu.maxpool2d_forward(d, &x, &mut y, &mut idx);
        Cpu.maxpool2d_backward(d, &idx, &dy, &mut dx);
    } else {
        Cpu.avgpool2d_forward(d, &x, &mut y);
        Cpu.avgpool2d_backward(d, &dy, &mut dx);
    }
    Ok(vec![("output", y), ("grad_input", dx)])
}

fn global_avg(case: &Case) -> Result<Results, String> {
    if let Some(os) = case.params.get("output_size") {
        let one = Value::from(1);
        let ok = os == &one || os.as_array().is_some_and(|a| a.iter().all(|v| v == &one));
        if !ok {
            return Err(format!("output_size {os}: only global pooling (1) is supported"));
        }
    }
    let (s, x, dy) = input_nchw(case)?;
    let (planes, hw) = (s[0] * s[1], s[2] * s[3]);
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    expect_len("input", x.len(), planes * hw)?;
    expect_len("grad_output", dy.len(), planes)?;
    Cpu.global_avgpool2d_forward(planes, hw, &x, &mut y);
    Cpu.global_avgpool2d_backward(planes, hw, &dy, &mut dx);
    Ok(vec![("output", y), ("grad_input", dx)])
}

fn flatten(case: &Case) -> Result<Results, String> {
    let x = case.t("input")?;
    let rank = x.shape.len() as i64;
    let start = case.params.get("start_dim").and_then(Value::as_i64).unwrap_or(1);
    let end = case.params.get("end_dim").and_then(Value::as_i64).unwrap_or(-1);
    if start != 1 || (end != -1 && end != rank - 1) || rank < 2 {
        return Err(format!(
            "flatten from dim {start} to {end} of a rank-{rank} input: only start_dim=1, end_dim=-1 is supported"
        ));
    }
    let n = x.shape[0];
    let features: usize = x.shape[1..].iter().product();
    let (xv, dy) = (x.f32(), case.t("grad_out")?.f32());
    let (mut y, mut dx) = (Vec::new(), Vec::new());
    flatten_forward(&Cpu, &xv, &mut y, n, features).map_err(|e| e.to_string())?;
    flatten_backward(&Cpu, &dy, &mut dx, n, features).map_err(|e| e.to_string())?;
    Ok(vec![("output", y), ("grad_input", dx)])
}

#[cfg(test)]
mod tests {
    #[test]
    fn spatial_cases_pass() {
        super::super::run_kinds(&["conv2d", "maxpool2d", "avgpool2d", "global_avg_pool2d", "flatten"]);
    }

    /// Unsupported hyperparameters fail instead of being ignored.
    #[test]
    fn unsupported_hyperparameters_fail() {
        let cases = super::super::load_dir(&super::super::vendored_dir()).unwrap();
        let mut conv = cases.iter().find(|c| c.kind == "conv2d").unwrap().clone();
        conv.params["dilation"] = serde_json::json!(2);
        assert!(super::run(&conv).unwrap_err().contains("dilation"));
        let mut pool = cases.iter().find(|c| c.kind == "avgpool2d").unwrap().clone();
        pool.params["count_include_pad"] = serde_json::json!(false);
        assert!(super::run(&pool).unwrap_err().contains("count_include_pad"));
        pool.params["count_include_pad"] = serde_json::json!(true);
        pool.params["kernel_size"] = serde_json::json!([2, 3]);
        assert!(super::run(&pool).unwrap_err().contains("square"));
    }
}
