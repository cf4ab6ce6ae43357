//! A `#[network]` read as a sequence of primitive ops, without the macro:
//! the layer kinds and output shapes come from [`Network::summary`], the
//! weights from [`Module::visit`] (PyTorch `state_dict` names). BatchNorm
//! is folded into the preceding Conv2d or Linear here. The same plan runs
//! in `f32` for calibration and for the per-layer error report.

use super::QuantError;
use crate::layers::conv2d::conv2d_forward;
use crate::layers::linear::linear_forward;
use crate::module::Network;
use dl_core::ops::conv2d::Conv2dDims;
use dl_core::ops::pool2d::Pool2dDims;
use dl_core::ops::pool2d::Pool2dKernel;
use dl_core::Cpu;
use dl_core::GemmWorkspace;
use std::collections::HashMap;

/// Per-sample activation dims: `(c, h, w)`; a vector is `(n, 1, 1)`.
pub(crate) type Dims = (usize, usize, usize);

/// One primitive op of a plan.
#[derive(Clone, Debug)]
pub(crate) enum FOp {
    Conv {
        ic: usize,
        oc: usize,
        k: usize,
        stride: usize,
        pad: usize,
        /// `[oc, ic, k, k]`.
        w: Vec<f32>,
        b: Vec<f32>,
    },
    Linear {
        i: usize,
        o: usize,
        /// `[o, i]`.
        w: Vec<f32>,
        b: Vec<f32>,
    },
    Relu,
    MaxPool {
        k: usize,
        stride: usize,
        pad: usize,
    },
    AvgPool {
        k: usize,
        stride: usize,
        pad: usize,
    },
    GlobalAvg,
    Flatten,
    /// Dropout at inference.
    Identity,
}

/// An op with its layer name(s) and shapes.
#[derive(Clone, Debug)]
pub(crate) struct Step {
    /// `conv1`, or `conv1+bn1` when a BatchNorm was folded in.
    pub name: String,
    /// The layer kind as written (`Conv2d<1, 32, 3>`).
    pub kind: String,
    pub op: FOp,
    pub in_dims: Dims,
    pub out_dims: Dims,
}

/// A network as ops.
#[derive(Clone, Debug)]
pub(crate) struct FloatPlan {
    pub input: Dims,
    pub steps: Vec<Step>,
}

fn dims_of(shape: &[usize]) -> Dims {
    match shape {
        [n] => (*n, 1, 1),
        [c, h, w] => (*c, *h, *w),
        [a, b] => (a * b, 1, 1),
        s => (s.iter().product(), 1, 1),
    }
}

/// `Conv2d<1, 32, 3, 2>` -> ("Conv2d", [Some(1), Some(32), Some(3), Some(2)]).
fn parse_kind(kind: &str) -> (String, Vec<Option<usize>>) {
    let (head, args) = match kind.find('<') {
        Some(i) => (&kind[..i], kind[i + 1..].trim_end().trim_end_matches('>')),
        None => (kind, ""),
    };
    let base = head.rsplit("::").next().unwrap_or(head).trim().to_string();
    let args = if args.trim().is_empty() {
        Vec::new()
    } else {
        args.split(',')
            .map(|a| a.trim().replace('_', "").parse().ok())
            .collect()
    };
    (base, args)
}

impl FloatPlan {
    /// Reads `model` (see the module documentation).
    pub(crate) fn from_network<N: Network<Cpu, f32>>(model: &N) -> Result<Self, QuantError> {
        let summary = N::summary();
        let mut params: HashMap<String, (Vec<f32>, Vec<usize>)> = HashMap::new();
        model.visit("", &mut |name, p| {
            params.insert(name.to_string(), (p.value.clone(), p.dims.clone()));
        });
        let input = dims_of(summary.input_shape);
        let mut cur = input;
        let mut steps: Vec<Step> = Vec::new();
        for l in summary.layers {
            let out = dims_of(l.output_shape);
            let unsupported = |reason: &str| QuantError::Unsupported {
                layer: l.name.to_string(),
                kind: l.kind.to_string(),
                reason: reason.to_string(),
            };
            let get = |what: &str| -> Result<(Vec<f32>, Vec<usize>), QuantError> {
                params
                    .get(&format!("{}.{what}", l.name))
                    .cloned()
                    .ok_or_else(|| unsupported(&format!("no parameter `{}.{what}`", l.name)))
            };
            let (base, args) = parse_kind(l.kind);
            let arg = |i: usize, default: usize| -> Result<usize, QuantError> {
                match args.get(i) {
                    None => Ok(default),
                    Some(Some(v)) => Ok(*v),
                    Some(None) => Err(unsupported("its generic arguments must be integer literals")),
                }
            };
            let op = match base.as_str() {
                "Conv2d" => {
                    let (w, wd) = get("weight")?;
                    let (b, _) = get("bias")?;
                    let (oc, ic, k) = (wd[0], wd[1], wd[2]);
                    let (stride, pad) = (arg(3, 1)?, arg(4, 0)?);
                    if ic != cur.0 || (cur.1 + 2 * pad < k) || (cur.1 + 2 * pad - k) / stride + 1 != out.1 {
                        return Err(unsupported("its shapes do not match the summary"));
                    }
                    FOp::Conv {
                        ic,
                        oc,
                        k,
                        stride,
                        pad,
                        w,
                        b,
                    }
                }
                "Linear" => {
                    let (w, wd) = get("weight")?;
                    let (b, _) = get("bias")?;
                    let (o, i) = (wd[0], wd[1]);
                    if cur.1 * cur.2 != 1 || i != cur.0 {
                        return Err(unsupported("a Linear on a sequence is not quantized (yet)"));
                    }
                    FOp::Linear { i, o, w, b }
                }
                "BatchNorm2d" | "BatchNorm1d" => {
                    let (g, _) = get("weight")?;
                    let (beta, _) = get("bias")?;
                    let (mean, _) = get("running_mean")?;
                    let (var, _) = get("running_var")?;
                    let prev = steps
                        .last_mut()
                        .filter(|s| matches!(s.op, FOp::Conv { .. } | FOp::Linear { .. }));
                    let Some(prev) = prev else {
                        return Err(unsupported(
                            "BatchNorm is folded into a directly preceding Conv2d or Linear",
                        ));
                    };
                    let (w, b, per) = match &mut prev.op {
                        FOp::Conv { w, b, ic, k, .. } => (w, b, *ic * *k * *k),
                        FOp::Linear { w, b, i, .. } => (w, b, *i),
                        _ => unreachable!(),
                    };
                    for c in 0..b.len() {
                        let f = g[c] / (var[c] + 1e-5).sqrt();
                        for v in &mut w[c * per..(c + 1) * per] {
                            *v *= f;
                        }
                        b[c] = (b[c] - mean[c]) * f + beta[c];
                    }
                    prev.name = format!("{}+{}", prev.name, l.name);
                    continue;
                }
                "ReLU" => FOp::Relu,
                "Dropout" | "FakeQuant" | "FakeQuantPerChannel" => FOp::Identity,
                "Flatten" => FOp::Flatten,
                "MaxPool2d" | "AvgPool2d" => {
                    let k = arg(0, 0)?;
                    let (stride, pad) = (arg(1, k)?, arg(2, 0)?);
                    if k == 0 || cur.1 + 2 * pad < k || (cur.1 + 2 * pad - k) / stride + 1 != out.1 {
                        return Err(unsupported("its shapes do not match the summary"));
                    }
                    if base == "MaxPool2d" {
                        FOp::MaxPool { k, stride, pad }
                    } else {
                        FOp::AvgPool { k, stride, pad }
                    }
                }
                "GlobalAvgPool2d" => FOp::GlobalAvg,
                _ => {
                    return Err(unsupported(
                        "only Conv2d, Linear, BatchNorm (after Conv2d/Linear), ReLU, MaxPool2d, AvgPool2d, \
                         GlobalAvgPool2d, Flatten and Dropout are quantized",
                    ))
                }
            };
            steps.push(Step {
                name: l.name.to_string(),
                kind: l.kind.to_string(),
                op,
                in_dims: cur,
                out_dims: out,
            });
            cur = out;
        }
        if steps.is_empty() {
            return Err(QuantError::InvalidConfig("the network has no layer".into()));
        }
        Ok(Self { input, steps })
    }

    /// Runs step `i` in `f32` on a batch of `n` samples (NCHW).
    pub(crate) fn run_step(&self, i: usize, x: &[f32], n: usize) -> Vec<f32> {
        let s = &self.steps[i];
        let (c, h, w) = s.in_dims;
        let dev = Cpu;
        let (oc, oh, ow) = s.out_dims;
        let mut y = vec![0f32; n * oc * oh * ow];
        match &s.op {
            FOp::Conv {
                ic,
                oc,
                k,
                stride,
                pad,
                w: wt,
                b,
            } => {
                let dims = Conv2dDims {
                    n,
                    c_in: *ic,
                    h,
                    w,
                    c_out: *oc,
                    k: *k,
                    stride: *stride,
                    pad: *pad,
                };
                let mut ws = Vec::new();
                conv2d_forward(
                    &dev,
                    &x.to_vec(),
                    wt,
                    Some(b),
                    &mut y,
                    dims,
                    &mut ws,
                    &mut GemmWorkspace::new(),
                )
                .expect("conv2d dims were checked");
            }
            FOp::Linear { i: fi, o, w: wt, b } => {
                linear_forward(
                    &dev,
                    &mut GemmWorkspace::new(),
                    &x.to_vec(),
                    wt,
                    Some(b),
                    &mut y,
                    n,
                    *fi,
                    *o,
                );
            }
            FOp::Relu => y = x.iter().map(|v| v.max(0.0)).collect(),
            FOp::Identity | FOp::Flatten => y = x.to_vec(),
            FOp::MaxPool { k, stride, pad } | FOp::AvgPool { k, stride, pad } => {
                let dims = Pool2dDims {
                    n,
                    c,
                    h,
                    w,
                    k: *k,
                    stride: *stride,
                    pad: *pad,
                };
                if matches!(s.op, FOp::MaxPool { .. }) {
                    let mut idx = Vec::new();
                    dev.maxpool2d_forward(dims, &x.to_vec(), &mut y, &mut idx);
                } else {
                    dev.avgpool2d_forward(dims, &x.to_vec(), &mut y);
                }
            }
            FOp::GlobalAvg => {
                y = x
                    .chunks(h * w)
                    .map(|p| p.iter().sum::<f32>() / (h * w) as f32)
                    .collect();
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::parse_kind;

    #[test]
    fn kinds_parse() {
        assert_eq!(
            parse_kind("Conv2d<1, 32, 3>"),
            ("Conv2d".into(), vec![Some(1), Some(32), Some(3)])
        );
        assert_eq!(parse_kind("dl::nn::MaxPool2d<2>"), ("MaxPool2d".into(), vec![Some(2)]));
        assert_eq!(parse_kind("ReLU"), ("ReLU".into(), vec![]));
        assert_eq!(
            parse_kind("Linear<HIDDEN, 10>"),
            ("Linear".into(), vec![None, Some(10)])
        );
    }
}
