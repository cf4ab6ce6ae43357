//! A `#[network]` read as a sequence of primitive ops, without the macro:
//! the layer kinds and output shapes come from [`Network::summary`], the
//! weights from [`Module::visit`] (PyTorch `state_dict` names). BatchNorm
//! is folded into the preceding Conv2d or Linear here. The same plan runs
//! in `f32` for calibration and for the per-layer error report.

use super::QuantError;
use crate::layers::conv2d::conv2d_forward;
use crate::layers::linear::linear_forward;
use crate::module::Network;
use crate::summary::{Structure, Summary};
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
    /// A residual connection starts: its input is saved (pushed) for the
    /// add; the output is the input.
    ResBegin,
    /// A projection shortcut starts: the block's output is saved in place
    /// of the residual's input, which becomes the current value again.
    ResShortcut,
    /// The residual add: the saved value (popped) plus the current one.
    ResAdd,
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

/// The top-level generic arguments of a kind as written:
/// `ResidualProj<Down32, Conv2d<16, 32, 1, 2>>` -> `["Down32", "Conv2d<16, 32, 1, 2>"]`.
fn generic_args(kind: &str) -> Vec<String> {
    let Some(open) = kind.find('<') else {
        return Vec::new();
    };
    let inner = kind[open + 1..].trim_end();
    let inner = inner.strip_suffix('>').unwrap_or(inner);
    let (mut out, mut depth, mut cur) = (Vec::new(), 0i32, String::new());
    for ch in inner.chars() {
        match ch {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// A Rust type name without its module paths:
/// `dl_nn::layers::conv2d::Conv2d<16, 32, 1, 2, 0, dl_core::Cpu, f32>` ->
/// `Conv2d<16, 32, 1, 2, 0, Cpu, f32>`.
fn short_type_name(name: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    for ch in name.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(&word));
            word.clear();
            out.push(ch);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(&word));
    out
}

/// The parameters of a network by `state_dict` name.
type Params = HashMap<String, (Vec<f32>, Vec<usize>)>;

impl FloatPlan {
    /// Values per input sample.
    pub(crate) fn input_len(&self) -> usize {
        self.input.0 * self.input.1 * self.input.2
    }

    /// Reads `model` (see the module documentation).
    pub(crate) fn from_network<N: Network<Cpu, f32>>(model: &N) -> Result<Self, QuantError> {
        let summary = N::summary();
        let mut params: Params = HashMap::new();
        model.visit("", &mut |name, p| {
            params.insert(name.to_string(), (p.value.clone(), p.dims.clone()));
        });
        let input = dims_of(summary.input_shape);
        let fields = match N::structure() {
            Structure::Network { fields, .. } if fields.len() == summary.layers.len() => fields,
            // A hand-written `Network`: its rows are read as layers.
            _ => summary.layers.iter().map(|l| Structure::Layer(l.kind)).collect(),
        };
        let mut plan = Self {
            input,
            steps: Vec::new(),
        };
        let mut cur = input;
        plan.network(summary, &fields, "", &params, &mut cur)?;
        if plan.steps.is_empty() {
            return Err(QuantError::InvalidConfig("the network has no layer".into()));
        }
        Ok(plan)
    }

    /// Appends the steps of a (nested) network whose parameters are under `prefix`.
    fn network(
        &mut self,
        summary: &Summary,
        fields: &[Structure],
        prefix: &str,
        params: &Params,
        cur: &mut Dims,
    ) -> Result<(), QuantError> {
        for (l, st) in summary.layers.iter().zip(fields) {
            let name = format!("{prefix}{}", l.name);
            let out = dims_of(l.output_shape);
            self.layer(&name, l.kind, st, out, params, cur)?;
        }
        Ok(())
    }

    /// Appends the steps of the layer `name` (`kind` as written, `st` its
    /// structure, `out` its output dims) on an input of `*cur` dims.
    fn layer(
        &mut self,
        name: &str,
        kind: &str,
        st: &Structure,
        out: Dims,
        params: &Params,
        cur: &mut Dims,
    ) -> Result<(), QuantError> {
        let unsupported = |reason: &str| QuantError::Unsupported {
            layer: name.to_string(),
            kind: kind.to_string(),
            reason: reason.to_string(),
        };
        // The kinds of a residual's branches: as written when the field
        // names the residual type, else from the Rust type names.
        let args = generic_args(kind);
        let branch_kind = |i: usize, st: &Structure| -> String {
            let (base, _) = parse_kind(kind);
            match (st, args.get(i)) {
                (_, Some(a)) if base.starts_with("Residual") => a.clone(),
                (Structure::Layer(t), _) => short_type_name(t),
                (Structure::Network { summary, .. }, _) => summary.name.to_string(),
                _ => kind.to_string(),
            }
        };
        match st {
            Structure::Network { summary, fields } => {
                if dims_of(summary.input_shape) != *cur {
                    return Err(unsupported("its input shape does not match the summary"));
                }
                self.network(summary, fields, &format!("{name}."), params, cur)?;
                if *cur != out {
                    return Err(unsupported("its output shape does not match the summary"));
                }
                Ok(())
            }
            Structure::Residual { block } | Structure::ResidualProj { block, .. } => {
                let x = *cur;
                let step = |op: FOp, i: Dims, o: Dims| Step {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    op,
                    in_dims: i,
                    out_dims: o,
                };
                self.steps.push(step(FOp::ResBegin, x, x));
                // The block's parameters are not prefixed (`Residual` adds no name level).
                self.layer(name, &branch_kind(0, block), block, out, params, cur)?;
                if *cur != out {
                    return Err(unsupported("its block's output shape does not match the summary"));
                }
                if let Structure::ResidualProj { shortcut, .. } = st {
                    self.steps.push(step(FOp::ResShortcut, out, x));
                    *cur = x;
                    let sname = format!("{name}.shortcut");
                    self.layer(&sname, &branch_kind(1, shortcut), shortcut, out, params, cur)?;
                } else if out != x {
                    return Err(unsupported("the block changes the shape"));
                }
                if *cur != out {
                    return Err(unsupported("its branches' shapes do not match the summary"));
                }
                self.steps.push(step(FOp::ResAdd, out, out));
                Ok(())
            }
            _ => self.leaf(name, kind, out, params, cur),
        }
    }

    /// Appends a single layer's step (or folds a BatchNorm into the previous one).
    fn leaf(&mut self, name: &str, kind: &str, out: Dims, params: &Params, cur: &mut Dims) -> Result<(), QuantError> {
        let unsupported = |reason: &str| QuantError::Unsupported {
            layer: name.to_string(),
            kind: kind.to_string(),
            reason: reason.to_string(),
        };
        let get = |what: &str| -> Result<(Vec<f32>, Vec<usize>), QuantError> {
            params
                .get(&format!("{name}.{what}"))
                .cloned()
                .ok_or_else(|| unsupported(&format!("no parameter `{name}.{what}`")))
        };
        let (base, args) = parse_kind(kind);
        let arg = |i: usize, default: usize| -> Result<usize, QuantError> {
            match args.get(i) {
                None => Ok(default),
                Some(Some(v)) => Ok(*v),
                Some(None) => Err(unsupported("its generic arguments must be integer literals")),
            }
        };
        let steps = &mut self.steps;
        let cur_d = *cur;
        let op = match base.as_str() {
            "Conv2d" => {
                let (w, wd) = get("weight")?;
                let (b, _) = get("bias")?;
                let (oc, ic, k) = (wd[0], wd[1], wd[2]);
                let (stride, pad) = (arg(3, 1)?, arg(4, 0)?);
                if ic != cur_d.0
                    || (cur_d.1 + 2 * pad < k)
                    || (cur_d.1 + 2 * pad - k) / stride + 1 != out.1
                    || oc != out.0
                {
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
                if cur_d.1 * cur_d.2 != 1 || i != cur_d.0 {
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
                // `block1.conv1` + `block1.bn1` -> `block1.conv1+bn1`.
                let local = name.rsplit('.').next().unwrap_or(name);
                prev.name = format!("{}+{local}", prev.name);
                return Ok(());
            }
            "ReLU" => FOp::Relu,
            "Dropout" | "FakeQuant" | "FakeQuantPerChannel" => FOp::Identity,
            "Flatten" => FOp::Flatten,
            "MaxPool2d" | "AvgPool2d" => {
                let k = arg(0, 0)?;
                let (stride, pad) = (arg(1, k)?, arg(2, 0)?);
                if k == 0 || cur_d.1 + 2 * pad < k || (cur_d.1 + 2 * pad - k) / stride + 1 != out.1 {
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
                     GlobalAvgPool2d, Flatten, Dropout, nested networks, Residual and ResidualProj are quantized",
                ))
            }
        };
        steps.push(Step {
            name: name.to_string(),
            kind: kind.to_string(),
            op,
            in_dims: cur_d,
            out_dims: out,
        });
        *cur = out;
        Ok(())
    }

    /// Runs step `i` in `f32` on a batch of `n` samples (NCHW); `stack`
    /// holds the values saved by residual connections (empty at the start).
    pub(crate) fn run_step(&self, i: usize, x: &[f32], n: usize, stack: &mut Vec<Vec<f32>>) -> Vec<f32> {
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
            FOp::ResBegin => {
                stack.push(x.to_vec());
                y = x.to_vec();
            }
            FOp::ResShortcut => {
                let saved = stack.pop().expect("a residual starts before its shortcut");
                stack.push(x.to_vec());
                y = saved;
            }
            FOp::ResAdd => {
                let saved = stack.pop().expect("a residual starts before its add");
                y = saved.iter().zip(x).map(|(a, b)| a + b).collect();
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::{generic_args, parse_kind, short_type_name};

    #[test]
    fn residual_kinds_split_into_branches() {
        assert_eq!(
            generic_args("ResidualProj<Down32, Conv2d<16, 32, 1, 2>>"),
            ["Down32", "Conv2d<16, 32, 1, 2>"]
        );
        assert_eq!(generic_args("Residual<Block16>"), ["Block16"]);
        assert!(generic_args("ReLU").is_empty());
        assert_eq!(
            short_type_name("dl_nn::layers::conv2d::Conv2d<16, 32, 1, 2, 0, dl_core::Cpu, f32>"),
            "Conv2d<16, 32, 1, 2, 0, Cpu, f32>"
        );
        // A kind read from a type name parses as one written by hand.
        let (base, args) = parse_kind(&short_type_name("a::Conv2d<1, 8, 3, 2, 1, b::Cpu, f32>"));
        assert_eq!(
            (base.as_str(), &args[..5]),
            ("Conv2d", &[Some(1), Some(8), Some(3), Some(2), Some(1)][..])
        );
    }

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
