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
    mha_backward, mha_forward, sdpa_forward_backward, AttnMask, MhaCache, MhaDims, MhaGrads, MhaWeights, MhaWorkspace,
    SdpaDims,
};
use crate::layers::batchnorm::batchnorm_forward;
use crate::layers::conv2d::{conv2d_backward, conv2d_forward};
use crate::layers::linear::WeightGrads;
use dl_core::ops::axpy::AxpyKernel;
use dl_core::ops::batchnorm::{BatchNormConfig, BatchNormKernel, NormBwd, NormDims, NormFwd};
use dl_core::ops::binary::{BinaryDims, BinaryKernel, BinaryOp};
use dl_core::ops::conv2d::Conv2dDims;
use dl_core::ops::util::UnaryKernel;
use dl_core::ops::Relu;
use dl_core::Cpu;
use dl_core::GemmWorkspace;

pub(super) fn run(case: &Case) -> Result<(), String> {
    let results = match case.kind.as_str() {
        "scaled_dot_product_attention" => sdpa(case)?,
        "multihead_attention" => mha(case)?,
        "residual_block" => residual_block(case)?,
        other => return Err(format!("unknown case kind `{other}`")),
    };
    case.compare_all(&results)
}

type Results = Vec<(&'static str, Vec<f32>)>;

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
    let (mut dq, mut dk, mut dvv) = (vec![], vec![], vec![]);
    let out = sdpa_forward_backward(
        &Cpu,
        &mut GemmWorkspace::new(),
        dims,
        [&qv, &kv, &vv],
        &dy.f32(),
        [&mut dq, &mut dk, &mut dvv],
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
    mha_backward(&Cpu, dims, w, &xv, &cache, &mut ws, &dy, Some(&mut dx), g);
    Ok(vec![
        ("output", y),
        ("grad_input", dx),
        ("grad_in_proj_weight", giw),
        ("grad_in_proj_bias", gib),
        ("grad_out_proj.weight", gow),
        ("grad_out_proj.bias", gob),
    ])
}

/// One conv + batch-norm stage of the block: parameters, running
/// statistics and what the backward needs.
struct Stage {
    name: &'static str,
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
    rm: Vec<f32>,
    rv: Vec<f32>,
    conv_out: Vec<f32>,
    bn_out: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

impl Stage {
    fn load(case: &Case, conv: &'static str, bn: &str, c: usize, k: usize, bias: bool) -> Result<Self, String> {
        let get = |name: String, shape: &[usize]| -> Result<Vec<f32>, String> {
            let t = case.t(&name)?;
            if t.shape != shape {
                return Err(format!("`{name}` has shape {:?}, expected {shape:?}", t.shape));
            }
            Ok(t.f32())
        };
        Ok(Self {
            name: conv,
            w: get(format!("{conv}.weight"), &[c, c, k, k])?,
            b: if bias {
                Some(get(format!("{conv}.bias"), &[c])?)
            } else {
                None
            },
            gamma: get(format!("{bn}.weight"), &[c])?,
            beta: get(format!("{bn}.bias"), &[c])?,
            rm: get(format!("{bn}.running_mean"), &[c])?,
            rv: get(format!("{bn}.running_var"), &[c])?,
            conv_out: vec![],
            bn_out: vec![],
            mean: vec![],
            rstd: vec![],
        })
    }

    fn forward(
        &mut self,
        x: &[f32],
        d: Conv2dDims,
        nd: NormDims,
        cfg: BatchNormConfig,
        training: bool,
        ws: &mut Vec<f32>,
    ) -> Result<(), String> {
        conv2d_forward(
            &Cpu,
            &x.to_vec(),
            &self.w,
            self.b.as_ref(),
            &mut self.conv_out,
            d,
            ws,
            &mut GemmWorkspace::new(),
        )
        .map_err(|e| format!("{}: {e}", self.name))?;
        let bufs = NormFwd {
            x: &self.conv_out,
            gamma: &self.gamma,
            beta: &self.beta,
            y: &mut self.bn_out,
            mean: &mut self.mean,
            rstd: &mut self.rstd,
        };
        batchnorm_forward(&Cpu, nd, cfg, training, &mut self.rm, &mut self.rv, bufs);
        Ok(())
    }

    /// From the gradient at the batch-norm output to the stage input's
    /// gradient; returns `(dx, dw, dgamma, dbeta)`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        x: &[f32],
        dy: &[f32],
        d: Conv2dDims,
        nd: NormDims,
        training: bool,
        ws: &mut Vec<f32>,
    ) -> Result<[Vec<f32>; 4], String> {
        let c = nd.channels;
        let (mut dconv, mut dg, mut db) = (vec![], vec![0f32; c], vec![0f32; c]);
        let bufs = NormBwd {
            x: &self.conv_out,
            gamma: &self.gamma,
            mean: &self.mean,
            rstd: &self.rstd,
            dy: &dy.to_vec(),
            dx: &mut dconv,
            dgamma: &mut dg,
            dbeta: &mut db,
        };
        Cpu.batchnorm_backward(nd, training, bufs);
        let (mut dx, mut dw, mut dcb) = (vec![], vec![0f32; self.w.len()], vec![0f32; c]);
        conv2d_backward(
            &Cpu,
            &x.to_vec(),
            &self.w,
            &dconv,
            WeightGrads {
                dx: Some(&mut dx),
                dw: &mut dw,
                db: self.b.as_ref().map(|_| &mut dcb),
            },
            d,
            ws,
            &mut GemmWorkspace::new(),
        )
        .map_err(|e| format!("{}: {e}", self.name))?;
        Ok([dx, dw, dg, db])
    }
}

fn residual_block(case: &Case) -> Result<Results, String> {
    match case.p_str("shortcut").unwrap_or("identity") {
        "identity" => {}
        other => return Err(format!("shortcut `{other}`: only the identity shortcut is supported")),
    }
    let x = rank(case, "input", 4)?;
    let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
    if let Ok(ch) = case.p_usize("channels") {
        if ch != c {
            return Err(format!("channels {ch} differ from the input's {c}"));
        }
    }
    let k = case.p_usize("kernel_size")?;
    let d = Conv2dDims {
        n,
        c_in: c,
        h,
        w,
        c_out: c,
        k,
        stride: case.p_usize("stride").unwrap_or(1),
        pad: case.p_usize("padding").unwrap_or(0),
    };
    d.validate().map_err(|e| e.to_string())?;
    if d.oh() != h || d.ow() != w {
        return Err(format!(
            "the convolution maps {h}x{w} to {}x{}: an identity shortcut needs the same size",
            d.oh(),
            d.ow()
        ));
    }
    let nd = NormDims {
        outer: n,
        channels: c,
        inner: h * w,
    };
    let cfg = BatchNormConfig {
        eps: case.p_f64("bn_eps").unwrap_or(1e-5),
        momentum: case.p_f64("bn_momentum").unwrap_or(0.1),
    };
    let training = case.p_bool("training").unwrap_or(true);
    let bias = case.p_bool("conv_bias").unwrap_or(false);
    let mut s1 = Stage::load(case, "conv1", "bn1", c, k, bias)?;
    let mut s2 = Stage::load(case, "conv2", "bn2", c, k, bias)?;
    let xv = x.f32();
    let dy = case.t("grad_out")?;
    if dy.shape != x.shape {
        return Err(format!(
            "grad_out shape {:?} differs from input {:?}",
            dy.shape, x.shape
        ));
    }
    let mut ws = vec![];
    // Forward: a1 = relu(bn1(conv1(x))); out = relu(bn2(conv2(a1)) + x).
    s1.forward(&xv, d, nd, cfg, training, &mut ws)?;
    let mut a1 = vec![];
    Cpu.unary_forward(Relu, &s1.bn_out, &mut a1);
    s2.forward(&a1, d, nd, cfg, training, &mut ws)?;
    let mut z = vec![];
    Cpu.binary_forward(
        BinaryOp::Add,
        BinaryDims {
            outer: 1,
            inner: xv.len(),
            broadcast_b: false,
        },
        &s2.bn_out,
        &xv,
        &mut z,
    );
    let mut out = vec![];
    Cpu.unary_forward(Relu, &z, &mut out);
    // Backward.
    let mut dz = vec![];
    Cpu.unary_backward(Relu, &z, &out, &dy.f32(), &mut dz);
    let [da1, dw2, dg2, db2] = s2.backward(&a1, &dz, d, nd, training, &mut ws)?;
    let mut dbn1 = vec![];
    Cpu.unary_backward(Relu, &s1.bn_out, &a1, &da1, &mut dbn1);
    let [mut dx, dw1, dg1, db1] = s1.backward(&xv, &dbn1, d, nd, training, &mut ws)?;
    Cpu.axpy(1.0, &dz, &mut dx);
    Ok(vec![
        ("output", out),
        ("grad_input", dx),
        ("grad_conv1.weight", dw1),
        ("grad_bn1.weight", dg1),
        ("grad_bn1.bias", db1),
        ("grad_conv2.weight", dw2),
        ("grad_bn2.weight", dg2),
        ("grad_bn2.bias", db2),
        ("bn1.running_mean_after", s1.rm),
        ("bn1.running_var_after", s1.rv),
        ("bn2.running_mean_after", s2.rm),
        ("bn2.running_var_after", s2.rv),
    ])
}

#[cfg(test)]
mod tests {
    #[test]
    fn attention_cases_pass() {
        super::super::run_kinds(&["scaled_dot_product_attention", "multihead_attention", "residual_block"]);
    }
}
