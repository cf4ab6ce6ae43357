//! Shape arithmetic of the known layer kinds, on plain numbers.
//!
//! Nothing here sees a token stream: [`validate`] checks a layer's own
//! hyperparameters, [`infer`] maps an input shape to an output shape or to
//! the sentence that explains why the layer cannot take it. The caller
//! (`check.rs`) attaches spans.

/// A known layer kind with its (literal) hyperparameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Linear<IN, OUT>`.
    Linear { inp: usize, out: usize },
    /// `Conv2d<IN_C, OUT_C, K, STRIDE, PAD>`.
    Conv2d {
        in_c: usize,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// `MaxPool2d<K, STRIDE, PAD>` or `AvgPool2d<K, STRIDE, PAD>`.
    Pool {
        name: &'static str,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// `GlobalAvgPool2d`: `[C, H, W] -> [C]`.
    GlobalAvgPool2d,
    /// `Conv1d<IN_C, OUT_C, K, STRIDE, PAD>`: `[C, L] -> [OUT_C, LO]`.
    Conv1d {
        in_c: usize,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// `MaxPool1d<K, STRIDE, PAD>` or `AvgPool1d<K, STRIDE, PAD>`.
    Pool1d {
        name: &'static str,
        k: usize,
        stride: usize,
        pad: usize,
    },
    /// `GlobalAvgPool1d`: `[C, L] -> [C]`.
    GlobalAvgPool1d,
    /// `LSTM<INPUT, HIDDEN, LAYERS, BIDIRECTIONAL>` / `GRU<..>`:
    /// `[T, INPUT] -> [T, HIDDEN * directions]`.
    Rnn {
        name: &'static str,
        input: usize,
        hidden: usize,
        layers: usize,
        bidirectional: bool,
    },
    /// `LastStep`: `[T, D] -> [D]`.
    LastStep,
    /// `Flatten`: `[A, B(, C)] -> [A*B(*C)]`.
    Flatten,
    /// Activations and other shape-preserving layers without hyperparameters.
    Same { name: &'static str },
    /// `Dropout<P_PERCENT>`.
    Dropout { p_percent: usize },
    /// `BatchNorm1d<C>`: `[C] -> [C]`.
    BatchNorm1d { c: usize },
    /// `BatchNorm2d<C>`: `[C, H, W] -> [C, H, W]`.
    BatchNorm2d { c: usize },
    /// `LayerNorm<D>`: `[.., D] -> [.., D]`.
    LayerNorm { d: usize },
    /// `Embedding<VOCAB, DIM>`: `[T] -> [T, DIM]`.
    Embedding { vocab: usize, dim: usize },
    /// `MultiHeadAttention<D, H, CAUSAL>` / `LocalAttention<D, H, WINDOW>`:
    /// `[T, D] -> [T, D]`.
    Attention {
        name: &'static str,
        d_model: usize,
        heads: usize,
    },
    /// `SeqMean`: `[T, D] -> [D]`.
    SeqMean,
    /// `Residual<Block>`: `S -> S`; `None` when the block is not a known kind.
    Residual { block: Option<Box<Kind>> },
    /// `ResidualProj<Block, Proj>`; each `None` when not a known kind.
    ResidualProj {
        block: Option<Box<Kind>>,
        proj: Option<Box<Kind>>,
    },
}

impl Kind {
    /// Whether the macro sees the whole layer: false for a residual whose
    /// block (or projection) is not a known kind.
    pub fn fully_known(&self) -> bool {
        match self {
            Kind::Residual { block } => block.as_deref().is_some_and(Kind::fully_known),
            Kind::ResidualProj { block, proj } => {
                block.as_deref().is_some_and(Kind::fully_known) && proj.as_deref().is_some_and(Kind::fully_known)
            }
            _ => true,
        }
    }

    /// The layer's type name.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Linear { .. } => "Linear",
            Kind::Conv2d { .. } => "Conv2d",
            Kind::Pool { name, .. }
            | Kind::Pool1d { name, .. }
            | Kind::Rnn { name, .. }
            | Kind::Same { name }
            | Kind::Attention { name, .. } => name,
            Kind::GlobalAvgPool2d => "GlobalAvgPool2d",
            Kind::Conv1d { .. } => "Conv1d",
            Kind::GlobalAvgPool1d => "GlobalAvgPool1d",
            Kind::LastStep => "LastStep",
            Kind::Flatten => "Flatten",
            Kind::Dropout { .. } => "Dropout",
            Kind::BatchNorm1d { .. } => "BatchNorm1d",
            Kind::BatchNorm2d { .. } => "BatchNorm2d",
            Kind::LayerNorm { .. } => "LayerNorm",
            Kind::Embedding { .. } => "Embedding",
            Kind::SeqMean => "SeqMean",
            Kind::Residual { .. } => "Residual",
            Kind::ResidualProj { .. } => "ResidualProj",
        }
    }
}

/// The input `kind` expects that is closest to `d`: the same rank and
/// sizes, with the layer's own feature or channel count. After a mismatch,
/// the layers after this one are checked against what it would produce
/// from that input, so one compile reports every independent mismatch.
/// `None` where no such input is evident.
pub fn repaired_input(kind: &Kind, d: &[usize]) -> Option<Vec<usize>> {
    let last = |n: usize| match d {
        [] => vec![n],
        _ if d.len() <= 3 => {
            let mut v = d.to_vec();
            *v.last_mut().expect("non-empty") = n;
            v
        }
        _ => vec![n],
    };
    match *kind {
        Kind::Linear { inp, .. } => Some(last(inp)),
        Kind::LayerNorm { d: n } => Some(last(n)),
        Kind::BatchNorm1d { c } => Some(vec![c]),
        Kind::Conv2d { in_c: c, .. } | Kind::BatchNorm2d { c } => match d {
            [_, h, w] => Some(vec![c, *h, *w]),
            _ => None,
        },
        Kind::Conv1d { in_c, .. } => match d {
            [_, l] => Some(vec![in_c, *l]),
            _ => None,
        },
        Kind::Rnn { input, .. } => match d {
            [t, _] => Some(vec![*t, input]),
            _ => None,
        },
        Kind::Attention { d_model, .. } => match d {
            [t, _] => Some(vec![*t, d_model]),
            _ => None,
        },
        _ => None,
    }
}

/// Where an input shape comes from, for messages.
#[derive(Clone, Debug)]
pub struct Producer<'a> {
    /// The field that produced it; `None` for the network input.
    pub name: Option<&'a str>,
    /// Per-sample shape.
    pub dims: &'a [usize],
    /// How it arose, when that helps (`= [64, 5, 5] flattened`).
    pub note: Option<&'a str>,
}

impl Producer<'_> {
    /// "flat produces [1600] (= [64, 5, 5] flattened)" / "the network input is [784]".
    pub fn describe(&self) -> String {
        let note = match self.note {
            Some(n) => format!(" ({n})"),
            None => String::new(),
        };
        match self.name {
            Some(name) => format!("{name} produces {}{note}", fmt_dims(self.dims)),
            None => format!("the network input is {}{note}", fmt_dims(self.dims)),
        }
    }
}

/// An inferred output shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inferred {
    /// Per-sample output shape.
    pub dims: Vec<usize>,
    /// How it arose (set by `Flatten`).
    pub note: Option<String>,
}

impl Inferred {
    fn plain(dims: Vec<usize>) -> Self {
        Inferred { dims, note: None }
    }
}

/// `[1, 28, 28]`.
pub fn fmt_dims(dims: &[usize]) -> String {
    let inner: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

/// Output length of a window (`dl-shape`, shared with the runtime).
pub use dl_shape::conv_out as window_out;

/// Product of the dimensions, `None` on overflow (`dl-shape`).
pub use dl_shape::numel;

/// Checks a layer's own hyperparameters (independent of its input); one
/// message per problem, each starting with `field: Kind`.
pub fn validate(field: &str, kind: &Kind) -> Vec<String> {
    let mut errs = Vec::new();
    let at_least_one = |errs: &mut Vec<String>, what: &str, v: usize| {
        if v == 0 {
            errs.push(format!("{field}: {} {what} must be at least 1, got 0", kind.name()));
        }
    };
    match kind {
        Kind::Linear { inp, out } => {
            at_least_one(&mut errs, "input features", *inp);
            at_least_one(&mut errs, "output features", *out);
        }
        Kind::Conv2d {
            in_c, out_c, k, stride, ..
        }
        | Kind::Conv1d {
            in_c, out_c, k, stride, ..
        } => {
            at_least_one(&mut errs, "input channels", *in_c);
            at_least_one(&mut errs, "output channels", *out_c);
            at_least_one(&mut errs, "kernel size", *k);
            at_least_one(&mut errs, "stride", *stride);
        }
        Kind::Rnn {
            input, hidden, layers, ..
        } => {
            at_least_one(&mut errs, "input features", *input);
            at_least_one(&mut errs, "hidden size", *hidden);
            at_least_one(&mut errs, "number of layers", *layers);
        }
        Kind::Pool { k, stride, pad, .. } | Kind::Pool1d { k, stride, pad, .. } => {
            at_least_one(&mut errs, "kernel size", *k);
            at_least_one(&mut errs, "stride", *stride);
            if *k > 0 && pad.checked_mul(2).is_none_or(|p2| p2 > *k) {
                errs.push(format!(
                    "{field}: {} padding {pad} must be at most half the kernel size {k} (as in PyTorch)",
                    kind.name()
                ));
            }
        }
        Kind::Dropout { p_percent } => {
            if *p_percent > 100 {
                errs.push(format!(
                    "{field}: Dropout probability is given in percent and must be at most 100, got {p_percent}"
                ));
            }
        }
        Kind::BatchNorm1d { c } | Kind::BatchNorm2d { c } => at_least_one(&mut errs, "channels", *c),
        Kind::LayerNorm { d } => at_least_one(&mut errs, "dimension", *d),
        Kind::Embedding { vocab, dim } => {
            at_least_one(&mut errs, "vocabulary size", *vocab);
            at_least_one(&mut errs, "dimension", *dim);
        }
        Kind::Attention { d_model, heads, .. } => {
            at_least_one(&mut errs, "model dimension", *d_model);
            if *heads == 0 {
                errs.push(format!("{field}: {} needs at least 1 head, got 0", kind.name()));
            } else if d_model % heads != 0 {
                errs.push(format!(
                    "{field}: {} model dimension {d_model} is not divisible by {heads} heads \
                     (each head gets D_MODEL / HEADS features)",
                    kind.name()
                ));
            }
        }
        Kind::Residual { block } => {
            if let Some(b) = block {
                errs.extend(validate(field, b));
            }
        }
        Kind::ResidualProj { block, proj } => {
            for b in [block, proj].into_iter().flatten() {
                errs.extend(validate(field, b));
            }
        }
        Kind::GlobalAvgPool2d
        | Kind::GlobalAvgPool1d
        | Kind::LastStep
        | Kind::Flatten
        | Kind::Same { .. }
        | Kind::SeqMean => {}
    }
    errs
}

fn too_large(field: &str, kind: &Kind) -> String {
    format!("{field}: {} output shape overflows usize", kind.name())
}

/// The output shape of `kind` (named `field`) for the input `x`, or the
/// sentence that says why the layer cannot take it. Assumes [`validate`]
/// passed (zero strides are reported there, not here).
pub fn infer(field: &str, kind: &Kind, x: &Producer) -> Result<Inferred, String> {
    let d = x.dims;
    let name = kind.name();
    // Every refusal reads `{field}: {what the layer expects}, but {the input}{detail}`.
    let but_with = |expects: String, detail: String| -> Result<Inferred, String> {
        Err(format!("{field}: {expects}, but {}{detail}", x.describe()))
    };
    let but = |expects: String| but_with(expects, String::new());
    match kind {
        Kind::Linear { inp, out } => match d {
            [f] if f == inp => Ok(Inferred::plain(vec![*out])),
            [_] => but(format!("Linear expects {inp} input features")),
            [.., f] if d.len() <= 3 && f == inp => {
                let mut o = d.to_vec();
                *o.last_mut().expect("rank >= 2") = *out;
                Ok(Inferred::plain(o))
            }
            [.., f] if d.len() <= 3 => {
                let hint = match numel(d) {
                    Some(n) if n == *inp => format!("; add a `Flatten` layer before it (it would produce [{n}])"),
                    _ => String::new(),
                };
                but_with(
                    format!("Linear maps the last axis, which must hold {inp} features"),
                    format!(" with {f} in its last axis{hint}"),
                )
            }
            _ => but("Linear takes inputs of rank 1 to 3 (features in the last axis)".into()),
        },
        Kind::Conv2d {
            in_c,
            out_c,
            k,
            stride,
            pad,
        } => {
            let (c, h, w) = image(field, name, x)?;
            if c != *in_c {
                return but_with(
                    format!("Conv2d expects {in_c} input channels"),
                    format!(" with {c} channels"),
                );
            }
            let (oh, ow) = window(field, name, x, (h, w), *k, *stride, *pad)?;
            Ok(Inferred::plain(vec![*out_c, oh, ow]))
        }
        Kind::Pool { k, stride, pad, .. } => {
            let (c, h, w) = image(field, name, x)?;
            let (oh, ow) = window(field, name, x, (h, w), *k, *stride, *pad)?;
            Ok(Inferred::plain(vec![c, oh, ow]))
        }
        Kind::GlobalAvgPool2d => {
            let (c, _, _) = image(field, name, x)?;
            Ok(Inferred::plain(vec![c]))
        }
        Kind::Conv1d {
            in_c,
            out_c,
            k,
            stride,
            pad,
        } => {
            let (c, l) = channels_length(field, name, x)?;
            if c != *in_c {
                return but_with(
                    format!("Conv1d expects {in_c} input channels"),
                    format!(" with {c} channels"),
                );
            }
            let lo = window1d(field, name, x, l, *k, *stride, *pad)?;
            Ok(Inferred::plain(vec![*out_c, lo]))
        }
        Kind::Pool1d { k, stride, pad, .. } => {
            let (c, l) = channels_length(field, name, x)?;
            let lo = window1d(field, name, x, l, *k, *stride, *pad)?;
            Ok(Inferred::plain(vec![c, lo]))
        }
        Kind::GlobalAvgPool1d => {
            let (c, _) = channels_length(field, name, x)?;
            Ok(Inferred::plain(vec![c]))
        }
        Kind::Rnn {
            input,
            hidden,
            bidirectional,
            ..
        } => match d {
            [t, f] if f == input => {
                let dirs = if *bidirectional { 2 } else { 1 };
                let out = hidden.checked_mul(dirs).ok_or_else(|| too_large(field, kind))?;
                Ok(Inferred::plain(vec![*t, out]))
            }
            [_, f] => but_with(
                format!("{name} expects {input} input features per step"),
                format!(" with {f} features"),
            ),
            _ => but(format!("{name} expects a sequence input [T, {input}]")),
        },
        Kind::LastStep => match d {
            [_, f] => Ok(Inferred::plain(vec![*f])),
            _ => but("LastStep expects a sequence input [T, D]".into()),
        },
        Kind::Flatten => match d {
            // PyTorch's `nn.Flatten()` on `[N, C]` leaves it as it is.
            [n] => Ok(Inferred::plain(vec![*n])),
            [_, _] | [_, _, _] => {
                let n = numel(d).ok_or_else(|| too_large(field, kind))?;
                Ok(Inferred {
                    dims: vec![n],
                    note: Some(format!("= {} flattened", fmt_dims(d))),
                })
            }
            _ => but("Flatten expects an input of rank 1 to 3".into()),
        },
        Kind::Same { .. } | Kind::Dropout { .. } => Ok(Inferred::plain(d.to_vec())),
        Kind::BatchNorm1d { c } => match d {
            [f] if f == c => Ok(Inferred::plain(d.to_vec())),
            _ if d.len() == 3 => but_with(
                format!("BatchNorm1d expects an input [{c}]"),
                "; use BatchNorm2d for images".into(),
            ),
            _ => but(format!("BatchNorm1d expects an input [{c}]")),
        },
        Kind::BatchNorm2d { c } => match d {
            [ch, _, _] if ch == c => Ok(Inferred::plain(d.to_vec())),
            [ch, _, _] => but_with(
                format!("BatchNorm2d expects {c} channels"),
                format!(" with {ch} channels"),
            ),
            _ => but(format!("BatchNorm2d expects an image input [{c}, height, width]")),
        },
        Kind::LayerNorm { d: dim } => match d.last() {
            Some(last) if last == dim && d.len() <= 3 => Ok(Inferred::plain(d.to_vec())),
            _ if d.len() > 3 => but("LayerNorm takes inputs of rank 1 to 3".into()),
            _ => but(format!("LayerNorm normalises a last dimension of {dim}")),
        },
        Kind::Embedding { dim, .. } => match d {
            [t] => Ok(Inferred::plain(vec![*t, *dim])),
            _ => but("Embedding expects a rank-1 input of token ids [T]".into()),
        },
        Kind::Attention { d_model, .. } => match d {
            [_, dm] if dm == d_model => Ok(Inferred::plain(d.to_vec())),
            [_, dm] => but_with(
                format!("{name} expects a model dimension of {d_model}"),
                format!(" with {dm} features"),
            ),
            _ => but(format!("{name} expects a sequence input [T, {d_model}]")),
        },
        Kind::SeqMean => match d {
            [_, f] => Ok(Inferred::plain(vec![*f])),
            _ => but("SeqMean expects a sequence input [T, D]".into()),
        },
        Kind::Residual { block } => {
            if let Some(b) = block {
                let out = infer(field, b, x)?;
                if out.dims != d {
                    return Err(format!(
                        "{field}: the Residual block {} maps {} to {}, but a Residual needs a block whose \
                         output shape equals its input; use ResidualProj<Block, Projection>",
                        b.name(),
                        fmt_dims(d),
                        fmt_dims(&out.dims)
                    ));
                }
            }
            Ok(Inferred::plain(d.to_vec()))
        }
        Kind::ResidualProj { block, proj } => {
            let bo = block.as_deref().map(|b| infer(field, b, x)).transpose()?;
            let po = proj.as_deref().map(|p| infer(field, p, x)).transpose()?;
            match (bo, po) {
                (Some(b), Some(p)) if b.dims != p.dims => Err(format!(
                    "{field}: the ResidualProj block produces {} but its projection produces {}; \
                     both branches must have the same output shape",
                    fmt_dims(&b.dims),
                    fmt_dims(&p.dims)
                )),
                (Some(b), _) | (None, Some(b)) => Ok(Inferred::plain(b.dims)),
                // Both opaque: the caller types the output through the type system.
                (None, None) => Ok(Inferred::plain(d.to_vec())),
            }
        }
    }
}

fn image(field: &str, name: &str, x: &Producer) -> Result<(usize, usize, usize), String> {
    match x.dims {
        [c, h, w] => Ok((*c, *h, *w)),
        _ => Err(format!(
            "{field}: {name} expects an image input [channels, height, width], but {}",
            x.describe()
        )),
    }
}

fn channels_length(field: &str, name: &str, x: &Producer) -> Result<(usize, usize), String> {
    match x.dims {
        [c, l] => Ok((*c, *l)),
        _ => Err(format!(
            "{field}: {name} expects a sequence input [channels, length], but {}",
            x.describe()
        )),
    }
}

fn window1d(
    field: &str,
    name: &str,
    x: &Producer,
    l: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<usize, String> {
    window_out(l, k, stride, pad).ok_or_else(|| {
        format!(
            "{field}: {name} kernel {k} does not fit its input: {}, which is {} long with padding {pad} \
             (the output length (L + 2*PADDING - K) / STRIDE + 1 would be zero)",
            x.describe(),
            l.saturating_add(pad.saturating_mul(2))
        )
    })
}

fn window(
    field: &str,
    name: &str,
    x: &Producer,
    (h, w): (usize, usize),
    k: usize,
    stride: usize,
    pad: usize,
) -> Result<(usize, usize), String> {
    match (window_out(h, k, stride, pad), window_out(w, k, stride, pad)) {
        (Some(oh), Some(ow)) => Ok((oh, ow)),
        _ => {
            let padded = |v: usize| v.saturating_add(pad.saturating_mul(2));
            Err(format!(
                "{field}: {name} kernel {k}x{k} does not fit its input: {}, which is {}x{} with padding {pad} \
                 (the output size (H + 2*PADDING - K) / STRIDE + 1 would be zero)",
                x.describe(),
                padded(h),
                padded(w)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from<'a>(name: &'a str, dims: &'a [usize]) -> Producer<'a> {
        Producer {
            name: Some(name),
            dims,
            note: None,
        }
    }

    fn lenet() -> Vec<(&'static str, Kind)> {
        let pool = Kind::Pool {
            name: "MaxPool2d",
            k: 2,
            stride: 2,
            pad: 0,
        };
        vec![
            (
                "conv1",
                Kind::Conv2d {
                    in_c: 1,
                    out_c: 32,
                    k: 3,
                    stride: 1,
                    pad: 0,
                },
            ),
            ("relu1", Kind::Same { name: "ReLU" }),
            ("pool1", pool.clone()),
            (
                "conv2",
                Kind::Conv2d {
                    in_c: 32,
                    out_c: 64,
                    k: 3,
                    stride: 1,
                    pad: 0,
                },
            ),
            ("pool2", pool),
            ("flat", Kind::Flatten),
            ("fc1", Kind::Linear { inp: 1600, out: 128 }),
        ]
    }

    #[test]
    fn lenet_shapes() {
        let mut dims = vec![1, 28, 28];
        let mut outs = vec![];
        for (name, k) in lenet() {
            assert!(validate(name, &k).is_empty());
            let o = infer(
                name,
                &k,
                &Producer {
                    name: None,
                    dims: &dims,
                    note: None,
                },
            )
            .unwrap();
            dims = o.dims.clone();
            outs.push(o.dims);
        }
        assert_eq!(outs[0], vec![32, 26, 26]);
        assert_eq!(outs[2], vec![32, 13, 13]);
        assert_eq!(outs[3], vec![64, 11, 11]);
        assert_eq!(outs[4], vec![64, 5, 5]);
        assert_eq!(outs[5], vec![1600]);
        assert_eq!(outs[6], vec![128]);
    }

    #[test]
    fn linear_mismatch_names_both_shapes() {
        let fl = infer("flat", &Kind::Flatten, &from("pool2", &[64, 5, 5])).unwrap();
        let note = fl.note.clone();
        let x = Producer {
            name: Some("flat"),
            dims: &fl.dims,
            note: note.as_deref(),
        };
        let e = infer("fc1", &Kind::Linear { inp: 1500, out: 128 }, &x).unwrap_err();
        assert_eq!(
            e,
            "fc1: Linear expects 1500 input features, but flat produces [1600] (= [64, 5, 5] flattened)"
        );
    }

    #[test]
    fn linear_on_sequences_maps_the_last_axis() {
        let l = Kind::Linear { inp: 8, out: 6 };
        assert_eq!(infer("fc", &l, &from("x", &[5, 8])).unwrap().dims, vec![5, 6]);
        assert_eq!(infer("fc", &l, &from("x", &[2, 5, 8])).unwrap().dims, vec![2, 5, 6]);
        let e = infer("fc", &l, &from("rnn", &[5, 7])).unwrap_err();
        assert_eq!(
            e,
            "fc: Linear maps the last axis, which must hold 8 features, but rnn produces [5, 7] with 7 in its last axis"
        );
        let e = infer("fc", &l, &from("x", &[1, 2, 2, 8])).unwrap_err();
        assert!(e.contains("rank 1 to 3"), "{e}");
    }

    #[test]
    fn linear_after_image_suggests_flatten() {
        let e = infer("fc1", &Kind::Linear { inp: 1600, out: 10 }, &from("pool2", &[64, 5, 5])).unwrap_err();
        assert!(e.contains("must hold 1600 features"), "{e}");
        assert!(
            e.contains("add a `Flatten` layer before it (it would produce [1600])"),
            "{e}"
        );
    }

    #[test]
    fn network_input_is_named() {
        let x = Producer {
            name: None,
            dims: &[784],
            note: None,
        };
        let e = infer("fc1", &Kind::Linear { inp: 700, out: 10 }, &x).unwrap_err();
        assert_eq!(
            e,
            "fc1: Linear expects 700 input features, but the network input is [784]"
        );
    }

    #[test]
    fn conv_channels_and_rank() {
        let conv = Kind::Conv2d {
            in_c: 3,
            out_c: 8,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let e = infer("conv", &conv, &from("x", &[1, 8, 8])).unwrap_err();
        assert!(
            e.contains("expects 3 input channels") && e.contains("with 1 channels"),
            "{e}"
        );
        let e = infer("conv", &conv, &from("fc", &[128])).unwrap_err();
        assert!(e.contains("expects an image input"), "{e}");
        assert_eq!(
            infer("conv", &conv, &from("x", &[3, 8, 8])).unwrap().dims,
            vec![8, 8, 8]
        );
    }

    #[test]
    fn window_arithmetic() {
        assert_eq!(window_out(28, 3, 1, 0), Some(26));
        assert_eq!(window_out(8, 3, 2, 1), Some(4));
        assert_eq!(window_out(7, 2, 2, 0), Some(3));
        assert_eq!(window_out(2, 3, 1, 0), None);
        assert_eq!(window_out(2, 3, 1, 1), Some(2));
        assert_eq!(window_out(5, 3, 0, 0), None);
        assert_eq!(window_out(5, 0, 1, 0), None);
        assert_eq!(window_out(usize::MAX, 1, 1, 1), None);
    }

    #[test]
    fn kernel_larger_than_input() {
        let conv = Kind::Conv2d {
            in_c: 1,
            out_c: 1,
            k: 5,
            stride: 1,
            pad: 0,
        };
        let e = infer("conv", &conv, &from("pool", &[1, 3, 3])).unwrap_err();
        assert!(
            e.contains("kernel 5x5 does not fit its input") && e.contains("3x3 with padding 0"),
            "{e}"
        );
    }

    #[test]
    fn hyperparameters() {
        let conv = Kind::Conv2d {
            in_c: 1,
            out_c: 1,
            k: 3,
            stride: 0,
            pad: 0,
        };
        assert_eq!(validate("c", &conv), vec!["c: Conv2d stride must be at least 1, got 0"]);
        let pool = Kind::Pool {
            name: "MaxPool2d",
            k: 2,
            stride: 2,
            pad: 2,
        };
        assert!(validate("p", &pool)[0].contains("padding 2 must be at most half"));
        let attn = Kind::Attention {
            name: "MultiHeadAttention",
            d_model: 10,
            heads: 4,
        };
        assert!(validate("a", &attn)[0].contains("model dimension 10 is not divisible by 4 heads"));
        assert!(validate("d", &Kind::Dropout { p_percent: 150 })[0].contains("at most 100"));
        assert!(validate("d", &Kind::Dropout { p_percent: 100 }).is_empty());
    }

    #[test]
    fn norms_embedding_sequence() {
        let e = infer("bn", &Kind::BatchNorm2d { c: 16 }, &from("conv", &[32, 4, 4])).unwrap_err();
        assert!(
            e.contains("expects 16 channels") && e.contains("with 32 channels"),
            "{e}"
        );
        assert!(infer("bn", &Kind::BatchNorm1d { c: 4 }, &from("x", &[4])).is_ok());
        assert!(infer("ln", &Kind::LayerNorm { d: 8 }, &from("x", &[5, 8])).is_ok());
        assert!(infer("ln", &Kind::LayerNorm { d: 8 }, &from("x", &[8, 5])).is_err());
        let emb = infer("emb", &Kind::Embedding { vocab: 100, dim: 16 }, &from("x", &[12])).unwrap();
        assert_eq!(emb.dims, vec![12, 16]);
        assert_eq!(
            infer("m", &Kind::SeqMean, &from("x", &[12, 16])).unwrap().dims,
            vec![16]
        );
        assert_eq!(
            infer("g", &Kind::GlobalAvgPool2d, &from("x", &[8, 4, 4])).unwrap().dims,
            vec![8]
        );
    }

    #[test]
    fn residual_needs_same_shape() {
        let ok = Kind::Residual {
            block: Some(Box::new(Kind::Linear { inp: 4, out: 4 })),
        };
        assert_eq!(infer("r", &ok, &from("x", &[4])).unwrap().dims, vec![4]);
        let bad = Kind::Residual {
            block: Some(Box::new(Kind::Linear { inp: 4, out: 8 })),
        };
        let e = infer("r", &bad, &from("x", &[4])).unwrap_err();
        assert!(e.contains("maps [4] to [8]") && e.contains("ResidualProj"), "{e}");
        let proj = Kind::ResidualProj {
            block: Some(Box::new(Kind::Linear { inp: 4, out: 8 })),
            proj: Some(Box::new(Kind::Linear { inp: 4, out: 6 })),
        };
        assert!(infer("r", &proj, &from("x", &[4]))
            .unwrap_err()
            .contains("[8] but its projection produces [6]"));
    }

    #[test]
    fn sequence_layers() {
        let conv = Kind::Conv1d {
            in_c: 3,
            out_c: 4,
            k: 5,
            stride: 2,
            pad: 2,
        };
        assert_eq!(infer("c", &conv, &from("x", &[3, 11])).unwrap().dims, vec![4, 6]);
        let e = infer("c", &conv, &from("x", &[2, 11])).unwrap_err();
        assert_eq!(
            e,
            "c: Conv1d expects 3 input channels, but x produces [2, 11] with 2 channels"
        );
        let e = infer("c", &conv, &from("x", &[3, 8, 8])).unwrap_err();
        assert!(e.contains("expects a sequence input [channels, length]"), "{e}");
        let nopad = Kind::Conv1d {
            in_c: 3,
            out_c: 4,
            k: 5,
            stride: 2,
            pad: 0,
        };
        let e = infer("c", &nopad, &from("x", &[3, 4])).unwrap_err();
        assert!(
            e.contains("kernel 5 does not fit its input") && e.contains("4 long with padding 0"),
            "{e}"
        );
        let pool = Kind::Pool1d {
            name: "MaxPool1d",
            k: 2,
            stride: 2,
            pad: 0,
        };
        assert_eq!(infer("p", &pool, &from("x", &[4, 9])).unwrap().dims, vec![4, 4]);
        let padded = Kind::Pool1d {
            name: "MaxPool1d",
            k: 2,
            stride: 2,
            pad: 2,
        };
        assert!(validate("p", &padded)[0].contains("at most half"));
        assert_eq!(
            infer("g", &Kind::GlobalAvgPool1d, &from("x", &[4, 9])).unwrap().dims,
            vec![4]
        );
        let lstm = Kind::Rnn {
            name: "LSTM",
            input: 28,
            hidden: 64,
            layers: 2,
            bidirectional: true,
        };
        assert_eq!(infer("r", &lstm, &from("x", &[28, 28])).unwrap().dims, vec![28, 128]);
        let e = infer("r", &lstm, &from("x", &[28, 30])).unwrap_err();
        assert_eq!(
            e,
            "r: LSTM expects 28 input features per step, but x produces [28, 30] with 30 features"
        );
        let e = infer("r", &lstm, &from("x", &[784])).unwrap_err();
        assert!(e.contains("expects a sequence input [T, 28]"), "{e}");
        let zero = Kind::Rnn {
            name: "LSTM",
            input: 28,
            hidden: 0,
            layers: 1,
            bidirectional: false,
        };
        assert!(validate("r", &zero)[0].contains("hidden size must be at least 1"));
        assert_eq!(
            infer("l", &Kind::LastStep, &from("x", &[28, 128])).unwrap().dims,
            vec![128]
        );
        assert!(infer("l", &Kind::LastStep, &from("x", &[128])).is_err());
    }

    #[test]
    fn flatten_overflow_is_an_error_not_a_panic() {
        let e = infer("f", &Kind::Flatten, &from("x", &[usize::MAX, 2])).unwrap_err();
        assert!(e.contains("overflows"));
    }
}
