//! Golden cases of kinds `scaled_dot_product_attention`,
//! `multihead_attention` and `residual_block`.
//!
//! Each case calls the shape-agnostic functions the typed layers call
//! (`layers::attention`, and for the residual block `layers::conv2d`,
//! `layers::batchnorm`, `layers::activation`), in `f32`, with every
//! dimension and option read from the case. Every expected tensor must be
//! produced and match.

use super::{Case, GTensor};
use crate::layers::attention::{
    mha_backward, mha_forward, sdpa_backward, sdpa_forward, AttnMask, MhaCache, MhaDims, MhaGrads, MhaWeights,
    MhaWorkspace, SdpaDims,
};
use dl_core::Cpu;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "scaled_dot_product_attention" => sdpa(case)?,
        "multihead_attention" => mha(case)?,
        "residual_block" => residual_block(case)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    compare_all(case, &results)
}

type Results = Vec<(&'static str, Vec<f32>)>;

fn compare_all(case: &Case, results: &[(&str, Vec<f32>)]) -> Result<(), String> {
    if case.expected.is_empty() {
        return Err(format!("case `{}` lists no expected tensor", case.name));
    }
    for name in &case.expected {
        let (_, v) = results
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| format!("expected tensor `{name}` is not produced for kind `{}`", case.kind))?;
        case.compare32(name, v)?;
    }
    Ok(())
}

/// A tensor of the given rank, as `(shape, f32 values)`.
fn rank<'a>(case: &'a Case, name: &str, r: usize) -> Result<&'a GTensor, String> {
    let t = case.t(name)?;
    if t.shape.len() != r {
        return Err(format!("`{name}` has shape {:?}, expected rank {r}", t.shape));
    }
    Ok(t)
}

fn no_dropout(case: &Case, key: &str) -> Result<(), String> {
    match case.p_f64(key) {
        Ok(p) if p != 0.0 => Err(format!("{key} = {p}: only dropout 0 is supported")),
        _ => Ok(()),
    }
}

fn sdpa(case: &Case) -> Result<Results, String> {
    no_dropout(case, "dropout_p")?;
    let (q, k, v) = (rank(case, "q", 3)?, rank(case, "k", 3)?, rank(case, "v", 3)?);
    let (b, tq, d) = (q.shape[0], q.shape[1], q.shape[2]);
    let (tk, dv) = (k.shape[1], v.shape[2]);
    if k.shape != [b, tk, d] || v.shape[..2] != [b, tk] {
        return Err(format!(
            "q {:?}, k {:?}, v {:?} do not fit [B, Tq, D], [B, Tk, D], [B, Tk, Dv]",
            q.shape, k.shape, v.shape
        ));
    }
    let causal = case.p_bool("causal").unwrap_or(false);
    let scale = case.p_f64("scale").unwrap_or(1.0 / (d.max(1) as f64).sqrt());
    let dims = SdpaDims {
        count: b,
        tq,
        tk,
        d,
        dv,
        scale,
        mask: AttnMask { causal, window: None },
    };
    let (qv, kv, vv) = (q.f32(), k.f32(), v.f32());
    let dy = case.t("grad_out")?;
    if dy.shape != [b, tq, dv] {
        return Err(format!("grad_out shape {:?}, expected {:?}", dy.shape, [b, tq, dv]));
    }
    let (mut p, mut out) = (vec![], vec![]);
    sdpa_forward(&Cpu, dims, &qv, &kv, &vv, &mut p, &mut out);
    let (mut dp, mut dq, mut dk, mut dvv) = (vec![], vec![], vec![], vec![]);
    sdpa_backward(
        &Cpu,
        dims,
        &qv,
        &kv,
        &vv,
        &p,
        &dy.f32(),
        &mut dp,
        &mut dq,
        &mut dk,
        &mut dvv,
    );
    Ok(vec![("output", out), ("grad_q", dq), ("grad_k", dk), ("grad_v", dvv)])
}

fn mha(case: &Case) -> Result<Results, String> {
    no_dropout(case, "dropout")?;
    if !case.p_bool("batch_first").unwrap_or(true) {
        return Err("only batch_first=true is supported".into());
    }
    if !case.p_bool("self_attention").unwrap_or(true) {
        return Err("only self-attention (query = key = value) is supported".into());
    }
    if !case.p_bool("bias").unwrap_or(true) {
        return Err("only bias=true is supported".into());
    }
    let x = rank(case, "input", 3)?;
    let (n, t, dm) = (x.shape[0], x.shape[1], x.shape[2]);
    let heads = case.p_usize("num_heads")?;
    if let Ok(e) = case.p_usize("embed_dim") {
        if e != dm {
            return Err(format!("embed_dim {e} differs from the input's last dimension {dm}"));
        }
    }
    let dims = MhaDims {
        n,
        t,
        d_model: dm,
        heads,
        mask: AttnMask {
            causal: case.p_bool("causal").unwrap_or(false),
            window: None,
        },
    };
    dims.validate().map_err(|e| e.to_string())?;
    if let Ok(hd) = case.p_usize("head_dim") {
        if hd != dims.head_dim() {
            return Err(format!(
                "head_dim {hd} differs from embed_dim / num_heads = {}",
                dims.head_dim()
            ));
        }
    }
    let param = |name: &str, shape: &[usize]| -> Result<Vec<f32>, String> {
        let p = case.t(name)?;
        if p.shape != shape {
            return Err(format!("`{name}` has shape {:?}, expected {shape:?}", p.shape));
        }
        Ok(p.f32())
    };
    let iw = param("in_proj_weight", &[3 * dm, dm])?;
    let ib = param("in_proj_bias", &[3 * dm])?;
    let ow = param("out_proj.weight", &[dm, dm])?;
    let ob = param("out_proj.bias", &[dm])?;
    let dy = param("grad_out", &x.shape)?;
    let w = MhaWeights::<Cpu, f32> {
        in_proj_weight: &iw,
        in_proj_bias: &ib,
        out_proj_weight: &ow,
        out_proj_bias: &ob,
    };
    let xv = x.f32();
    let (mut y, mut cache, mut ws) = (vec![], MhaCache::new(&Cpu), MhaWorkspace::new(&Cpu));
    mha_forward(&Cpu, dims, w, &xv, &mut y, &mut cache);
    let mut dx = vec![];
    let (mut giw, mut gib) = (vec![0f32; iw.len()], vec![0f32; ib.len()]);
    let (mut gow, mut gob) = (vec![0f32; ow.len()], vec![0f32; ob.len()]);
    let g = MhaGrads::<Cpu, f32> {
        in_proj_weight: &mut giw,
        in_proj_bias: &mut gib,
        out_proj_weight: &mut gow,
        out_proj_bias: &mut gob,
    };
    mha_backward(&Cpu, dims, w, &xv, &cache, &mut ws, &dy, &mut dx, g);
    Ok(vec![
        ("output", y),
        ("grad_input", dx),
        ("grad_in_proj_weight", giw),
        ("grad_in_proj_bias", gib),
        ("grad_out_proj.weight", gow),
        ("grad_out_proj.bias", gob),
    ])
}

fn residual_block(_case: &Case) -> Result<Results, String> {
    Err("conv2d not available yet".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn attention_cases_pass() {
        super::super::run_kinds(&["scaled_dot_product_attention", "multihead_attention"]);
    }
}
