//! The known layer types (the catalogue of docs/ARCHITECTURE.md): their
//! generic parameters, defaults, and the completion of a field type with
//! those defaults (`dl_shape::defaults`, which the layer declarations read
//! too) and the network's `B, E`.

use crate::ctxt::Ctxt;
use crate::shape::Kind;
use dl_shape::defaults;
use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::{GenericArgument, PathArguments, Type};

/// A generic parameter of a known layer type.
#[derive(Clone, Copy)]
enum P {
    /// `const NAME: usize`, with its default.
    Usize(&'static str, Def),
    /// `const NAME: bool`, with its default.
    Bool(&'static str, Option<bool>),
    /// A layer type (the block of a residual).
    Layer(&'static str),
}

/// Default of a `usize` parameter.
#[derive(Clone, Copy)]
enum Def {
    /// Required.
    None,
    /// A literal default.
    Lit(usize),
    /// The value of an earlier parameter (a pool's stride defaults to its kernel).
    Same(usize),
}

use Def::{Lit, None as Req, Same};

/// The parameters every convolution shares (`Conv1d`, `Conv2d`).
const CONV: &[P] = &[
    P::Usize("IN_C", Req),
    P::Usize("OUT_C", Req),
    P::Usize("K", Req),
    P::Usize("STRIDE", Lit(defaults::CONV_STRIDE)),
    P::Usize("PAD", Lit(defaults::PAD)),
];

/// The parameters every windowed pool shares (max and average, 1-D and 2-D).
const POOL: &[P] = &[
    P::Usize("K", Req),
    P::Usize("STRIDE", Same(0)),
    P::Usize("PAD", Lit(defaults::PAD)),
];

/// The parameters both recurrent layers share (`LSTM`, `GRU`).
const RNN: &[P] = &[
    P::Usize("INPUT", Req),
    P::Usize("HIDDEN", Req),
    P::Usize("LAYERS", Lit(defaults::RNN_LAYERS)),
    P::Bool("BIDIRECTIONAL", Some(defaults::RNN_BIDIRECTIONAL)),
];

/// The catalogue: type name and generic parameters (before `B, E`).
const CATALOGUE: &[(&str, &[P])] = &[
    ("Linear", &[P::Usize("IN", Req), P::Usize("OUT", Req)]),
    ("Conv2d", CONV),
    ("MaxPool2d", POOL),
    ("AvgPool2d", POOL),
    ("GlobalAvgPool2d", &[]),
    ("Conv1d", CONV),
    ("MaxPool1d", POOL),
    ("AvgPool1d", POOL),
    ("GlobalAvgPool1d", &[]),
    ("LSTM", RNN),
    ("GRU", RNN),
    ("LastStep", &[]),
    ("Flatten", &[]),
    ("ReLU", &[]),
    ("Sigmoid", &[]),
    ("Tanh", &[]),
    ("GELU", &[]),
    ("GELUTanh", &[]),
    ("LeakyReLU", &[]),
    ("Softmax", &[]),
    ("LogSoftmax", &[]),
    ("Dropout", &[P::Usize("P_PERCENT", Lit(defaults::DROPOUT_PERCENT))]),
    ("BatchNorm1d", &[P::Usize("C", Req)]),
    ("BatchNorm2d", &[P::Usize("C", Req)]),
    ("LayerNorm", &[P::Usize("D", Req)]),
    ("Embedding", &[P::Usize("VOCAB", Req), P::Usize("DIM", Req)]),
    (
        "MultiHeadAttention",
        &[
            P::Usize("D_MODEL", Req),
            P::Usize("HEADS", Req),
            P::Bool("CAUSAL", Some(defaults::CAUSAL)),
        ],
    ),
    (
        "LocalAttention",
        &[
            P::Usize("D_MODEL", Req),
            P::Usize("HEADS", Req),
            P::Usize("WINDOW", Req),
        ],
    ),
    ("SeqMean", &[]),
    ("Residual", &[P::Layer("Block")]),
    ("ResidualProj", &[P::Layer("Block"), P::Layer("Proj")]),
];

/// Type names that are certainly not layers (a clearer error than the
/// trait-bound failure the type checker would give).
const NOT_LAYERS: &[&str] = &[
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
    "bool",
    "char",
    "str",
    "String",
    "Vec",
    "Option",
    "Box",
    "Rc",
    "Arc",
    "HashMap",
    "BTreeMap",
    "PhantomData",
    "Tensor",
    "Param",
    "RawParam",
];

/// What the macro knows about a field's layer type.
#[derive(Clone, Debug)]
pub enum FieldKind {
    /// A catalogue type. `kind` is `None` when some argument is not a
    /// literal (a named constant): then only the type checker knows its shape.
    Known { name: &'static str, kind: Option<Kind> },
    /// A user-defined layer or a nested network.
    Unknown,
}

impl FieldKind {
    /// Whether the layer implements `OutputShape` (the type system can
    /// compute its output): every kind but convolution, pooling, flatten and
    /// the recurrent layers (whose output width depends on a `bool`).
    pub fn type_computable(&self) -> bool {
        match self {
            FieldKind::Known { name, .. } => !matches!(
                *name,
                "Conv2d"
                    | "MaxPool2d"
                    | "AvgPool2d"
                    | "Flatten"
                    | "Conv1d"
                    | "MaxPool1d"
                    | "AvgPool1d"
                    | "LSTM"
                    | "GRU"
            ),
            FieldKind::Unknown => true,
        }
    }
}

/// A completed field type.
pub struct Completed {
    /// The type with defaults and `B, E` filled in.
    pub ty: Type,
    /// What the macro knows about it.
    pub kind: FieldKind,
}

enum Val {
    Int(usize),
    /// A `bool` literal.
    Bool(bool),
    Named,
    Layer(Box<Completed>),
}

fn backend_args() -> [GenericArgument; 2] {
    let b = syn::Ident::new("B", Span::call_site());
    let e = syn::Ident::new("E", Span::call_site());
    [
        GenericArgument::Type(syn::parse_quote!(#b)),
        GenericArgument::Type(syn::parse_quote!(#e)),
    ]
}

/// Completes `ty` (a field type as written), recording problems in `cx`
/// against `field`. `None` when the type cannot be completed.
pub fn complete(cx: &Ctxt, field: &str, ty: &Type) -> Option<Completed> {
    let not_a_layer = |what: String| {
        cx.error_spanned_by(
            ty,
            format!(
                "field `{field}`: {what} is not a layer; a #[network] field is a layer type such as \
                 `Linear<784, 128>`, a nested #[network] struct, or a type implementing `Layer`"
            ),
        );
    };
    let Type::Path(tp) = ty else {
        not_a_layer(format!("`{}`", pretty(ty)));
        return None;
    };
    if tp.qself.is_some() {
        not_a_layer(format!("`{}`", pretty(ty)));
        return None;
    }
    let Some(last) = tp.path.segments.last() else {
        not_a_layer("this type".into());
        return None;
    };
    let name = last.ident.to_string();
    if NOT_LAYERS.contains(&name.as_str()) {
        not_a_layer(format!("`{}`", pretty(ty)));
        return None;
    }
    let given: Vec<GenericArgument> = match &last.arguments {
        PathArguments::None => vec![],
        PathArguments::AngleBracketed(a) => a.args.iter().cloned().collect(),
        PathArguments::Parenthesized(_) => {
            not_a_layer(format!("`{}`", pretty(ty)));
            return None;
        }
    };
    let mut out = tp.clone();
    let seg = out.path.segments.last_mut()?;
    let Some(&(kname, params)) = CATALOGUE.iter().find(|(n, _)| *n == name) else {
        // Unknown: append `B, E`.
        let mut args: Punctuated<GenericArgument, syn::Token![,]> = given.into_iter().collect();
        args.extend(backend_args());
        seg.arguments = PathArguments::AngleBracketed(syn::parse_quote!(<#args>));
        return Some(Completed {
            ty: Type::Path(out),
            kind: FieldKind::Unknown,
        });
    };

    let required = params
        .iter()
        .filter(|p| matches!(p, P::Usize(_, Req) | P::Layer(_)))
        .count();
    if given.len() < required || given.len() > params.len() {
        let sig: Vec<String> = params
            .iter()
            .map(|p| match p {
                P::Usize(n, Req) | P::Layer(n) => n.to_string(),
                P::Usize(n, Lit(v)) => format!("{n} = {v}"),
                P::Usize(n, Same(i)) => match params.get(*i) {
                    Some(P::Usize(m, _)) => format!("{n} = {m}"),
                    _ => n.to_string(),
                },
                P::Bool(n, Some(v)) => format!("{n} = {v}"),
                P::Bool(n, None) => n.to_string(),
            })
            .collect();
        let form = if sig.is_empty() {
            format!("`{kname}` takes no generic arguments")
        } else {
            format!("`{kname}<{}>` takes {}", sig.join(", "), count(required, params.len()))
        };
        cx.error_spanned_by(
            ty,
            format!(
                "field `{field}`: {form}, got {}; the backend and dtype (`B`, `E`) are added by #[network]",
                given.len()
            ),
        );
        return None;
    }

    let mut vals: Vec<Val> = Vec::new();
    let mut args: Vec<GenericArgument> = Vec::new();
    let mut ok = true;
    for (i, p) in params.iter().enumerate() {
        let Some(arg) = given.get(i) else {
            // Defaults.
            match p {
                P::Usize(_, Lit(v)) => {
                    let lit = syn::LitInt::new(&v.to_string(), Span::call_site());
                    args.push(syn::parse_quote!(#lit));
                    vals.push(Val::Int(*v));
                }
                P::Usize(_, Same(j)) => {
                    args.push(args.get(*j).cloned().unwrap_or_else(|| syn::parse_quote!(1)));
                    vals.push(match vals.get(*j) {
                        Some(Val::Int(v)) => Val::Int(*v),
                        _ => Val::Named,
                    });
                }
                P::Bool(_, Some(v)) => {
                    args.push(syn::parse_quote!(#v));
                    vals.push(Val::Bool(*v));
                }
                // Required parameters were counted above.
                P::Usize(_, Req) | P::Bool(_, None) | P::Layer(_) => ok = false,
            }
            continue;
        };
        match (p, arg) {
            (P::Usize(pn, _), GenericArgument::Const(e)) => match e {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(i), ..
                }) => match i.base10_parse::<usize>() {
                    Ok(v) => {
                        vals.push(Val::Int(v));
                        args.push(arg.clone());
                    }
                    Err(err) => {
                        cx.error_spanned_by(i, format!("field `{field}`: {kname} {pn}: {err}"));
                        ok = false;
                    }
                },
                syn::Expr::Block(_) | syn::Expr::Path(_) => {
                    vals.push(Val::Named);
                    args.push(arg.clone());
                }
                other => {
                    cx.error_spanned_by(other, format!("field `{field}`: {kname} {pn} must be a number"));
                    ok = false;
                }
            },
            (P::Bool(pn, _), GenericArgument::Const(e)) => match e {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Bool(b), ..
                }) => {
                    vals.push(Val::Bool(b.value));
                    args.push(arg.clone());
                }
                syn::Expr::Block(_) | syn::Expr::Path(_) => {
                    vals.push(Val::Named);
                    args.push(arg.clone());
                }
                other => {
                    cx.error_spanned_by(
                        other,
                        format!("field `{field}`: {kname} {pn} must be `true` or `false`"),
                    );
                    ok = false;
                }
            },
            // A named constant (`Linear<HIDDEN, 10>`) parses as a type.
            (P::Usize(..) | P::Bool(..), GenericArgument::Type(Type::Path(tp)))
                if tp.qself.is_none() && tp.path.get_ident().is_some() =>
            {
                vals.push(Val::Named);
                args.push(arg.clone());
            }
            (P::Layer(_), GenericArgument::Type(inner)) => match complete(cx, field, inner) {
                Some(c) => {
                    args.push(GenericArgument::Type(c.ty.clone()));
                    vals.push(Val::Layer(Box::new(c)));
                }
                None => ok = false,
            },
            (P::Usize(pn, _) | P::Bool(pn, _) | P::Layer(pn), other) => {
                let want = match p {
                    P::Layer(_) => "a layer type",
                    P::Bool(..) => "`true` or `false`",
                    P::Usize(..) => "a number",
                };
                cx.error_spanned_by(other, format!("field `{field}`: {kname} {pn} must be {want}"));
                ok = false;
            }
        }
    }
    if !ok {
        return None;
    }
    let mut all: Punctuated<GenericArgument, syn::Token![,]> = args.into_iter().collect();
    all.extend(backend_args());
    seg.arguments = PathArguments::AngleBracketed(syn::parse_quote!(<#all>));

    let int = |i: usize| match vals.get(i) {
        Some(Val::Int(v)) => Some(*v),
        _ => None,
    };
    let boolean = |i: usize| match vals.get(i) {
        Some(Val::Bool(v)) => Some(*v),
        _ => None,
    };
    let layer = |i: usize| match vals.get(i) {
        Some(Val::Layer(c)) => Some(c.as_ref()),
        _ => None,
    };
    let inner_kind = |i: usize| match layer(i).map(|c| &c.kind) {
        Some(FieldKind::Known { kind: Some(k), .. }) => Some(Box::new(k.clone())),
        _ => None,
    };
    let kind = match kname {
        "Linear" => int(0).zip(int(1)).map(|(inp, out)| Kind::Linear { inp, out }),
        // The catalogue's CONV and POOL lists: (IN_C, OUT_C, K, STRIDE, PAD)
        // and (K, STRIDE, PAD), the same in 1-D and 2-D.
        "Conv2d" | "Conv1d" => (|| {
            let (in_c, out_c, k, stride, pad) = (int(0)?, int(1)?, int(2)?, int(3)?, int(4)?);
            Some(if kname == "Conv2d" {
                Kind::Conv2d {
                    in_c,
                    out_c,
                    k,
                    stride,
                    pad,
                }
            } else {
                Kind::Conv1d {
                    in_c,
                    out_c,
                    k,
                    stride,
                    pad,
                }
            })
        })(),
        "MaxPool2d" | "AvgPool2d" | "MaxPool1d" | "AvgPool1d" => (|| {
            let (name, k, stride, pad) = (kname, int(0)?, int(1)?, int(2)?);
            Some(if kname.ends_with("2d") {
                Kind::Pool { name, k, stride, pad }
            } else {
                Kind::Pool1d { name, k, stride, pad }
            })
        })(),
        "GlobalAvgPool2d" => Some(Kind::GlobalAvgPool2d),
        "GlobalAvgPool1d" => Some(Kind::GlobalAvgPool1d),
        "LSTM" | "GRU" => (|| {
            Some(Kind::Rnn {
                name: kname,
                input: int(0)?,
                hidden: int(1)?,
                layers: int(2)?,
                bidirectional: boolean(3)?,
            })
        })(),
        "LastStep" => Some(Kind::LastStep),
        "Flatten" => Some(Kind::Flatten),
        "SeqMean" => Some(Kind::SeqMean),
        "Dropout" => int(0).map(|p_percent| Kind::Dropout { p_percent }),
        "BatchNorm1d" => int(0).map(|c| Kind::BatchNorm1d { c }),
        "BatchNorm2d" => int(0).map(|c| Kind::BatchNorm2d { c }),
        "LayerNorm" => int(0).map(|d| Kind::LayerNorm { d }),
        "Embedding" => int(0).zip(int(1)).map(|(vocab, dim)| Kind::Embedding { vocab, dim }),
        "MultiHeadAttention" | "LocalAttention" => int(0).zip(int(1)).map(|(d_model, heads)| Kind::Attention {
            name: kname,
            d_model,
            heads,
        }),
        "Residual" => Some(Kind::Residual { block: inner_kind(0) }),
        "ResidualProj" => Some(Kind::ResidualProj {
            block: inner_kind(0),
            proj: inner_kind(1),
        }),
        _ => Some(Kind::Same { name: kname }),
    };
    Some(Completed {
        ty: Type::Path(out),
        kind: FieldKind::Known { name: kname, kind },
    })
}

fn count(required: usize, total: usize) -> String {
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    if required == total {
        format!("{total} {}", plural(total))
    } else {
        format!("{required} to {total} arguments")
    }
}

/// A type as the user wrote it, with the spacing of Rust source
/// (`Conv2d<1, 32, 3>`, not `Conv2d < 1 , 32 , 3 >`).
pub fn pretty(ty: &impl quote::ToTokens) -> String {
    let raw = ty.to_token_stream().to_string();
    let mut s = String::with_capacity(raw.len());
    let chars: Vec<char> = raw.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if matches!(next, '<' | '>' | ',' | ':') || matches!(prev, '<' | ':' | '&') {
                continue;
            }
        }
        s.push(c);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn run(ty: Type) -> (Option<(String, FieldKind)>, Vec<String>) {
        let cx = Ctxt::new();
        let c = complete(&cx, "f", &ty);
        let errs = match cx.check() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (c.map(|c| (pretty(&c.ty.to_token_stream()), c.kind)), errs)
    }

    #[test]
    fn defaults_and_backend_are_filled_in() {
        let (c, e) = run(syn::parse_quote!(Conv2d<1, 32, 3>));
        assert!(e.is_empty());
        let (ty, kind) = c.unwrap();
        assert_eq!(ty, "Conv2d<1, 32, 3, 1, 0, B, E>");
        assert!(matches!(
            kind,
            FieldKind::Known {
                kind: Some(Kind::Conv2d { stride: 1, pad: 0, .. }),
                ..
            }
        ));
        assert_eq!(
            run(syn::parse_quote!(MaxPool2d<2>)).0.unwrap().0,
            "MaxPool2d<2, 2, 0, B, E>"
        );
        assert_eq!(
            run(syn::parse_quote!(AvgPool2d<3, 1>)).0.unwrap().0,
            "AvgPool2d<3, 1, 0, B, E>"
        );
        assert_eq!(run(syn::parse_quote!(Dropout)).0.unwrap().0, "Dropout<50, B, E>");
        assert_eq!(run(syn::parse_quote!(ReLU)).0.unwrap().0, "ReLU<B, E>");
        assert_eq!(
            run(syn::parse_quote!(MultiHeadAttention<16, 4>)).0.unwrap().0,
            "MultiHeadAttention<16, 4, false, B, E>"
        );
        assert_eq!(
            run(syn::parse_quote!(dl::nn::layers::Linear<4, 2>)).0.unwrap().0,
            "dl::nn::layers::Linear<4, 2, B, E>"
        );
    }

    #[test]
    fn sequence_layers() {
        assert_eq!(
            run(syn::parse_quote!(Conv1d<2, 8, 3>)).0.unwrap().0,
            "Conv1d<2, 8, 3, 1, 0, B, E>"
        );
        assert_eq!(
            run(syn::parse_quote!(MaxPool1d<2>)).0.unwrap().0,
            "MaxPool1d<2, 2, 0, B, E>"
        );
        let (c, e) = run(syn::parse_quote!(LSTM<28, 64>));
        assert!(e.is_empty(), "{e:?}");
        let (ty, kind) = c.unwrap();
        assert_eq!(ty, "LSTM<28, 64, 1, false, B, E>");
        assert!(matches!(
            kind,
            FieldKind::Known {
                kind: Some(Kind::Rnn {
                    layers: 1,
                    bidirectional: false,
                    ..
                }),
                ..
            }
        ));
        let (c, _) = run(syn::parse_quote!(GRU<4, 3, 2, true>));
        assert!(matches!(
            c.unwrap().1,
            FieldKind::Known {
                kind: Some(Kind::Rnn {
                    bidirectional: true,
                    ..
                }),
                ..
            }
        ));
        let (_, e) = run(syn::parse_quote!(LSTM<4, 3, 2, 1>));
        assert!(e[0].contains("BIDIRECTIONAL must be `true` or `false`"), "{e:?}");
    }

    #[test]
    fn unknown_types_get_backend_appended() {
        assert_eq!(run(syn::parse_quote!(Block)).0.unwrap().0, "Block<B, E>");
        assert_eq!(run(syn::parse_quote!(MyLayer<4>)).0.unwrap().0, "MyLayer<4, B, E>");
        assert_eq!(
            run(syn::parse_quote!(Residual<Block>)).0.unwrap().0,
            "Residual<Block<B, E>, B, E>"
        );
        assert_eq!(
            run(syn::parse_quote!(ResidualProj<Block, Linear<4, 8>>)).0.unwrap().0,
            "ResidualProj<Block<B, E>, Linear<4, 8, B, E>, B, E>"
        );
    }

    #[test]
    fn named_constants_make_the_kind_opaque() {
        let (c, e) = run(syn::parse_quote!(Linear<HIDDEN, 10>));
        assert!(e.is_empty());
        assert!(matches!(c.unwrap().1, FieldKind::Known { kind: None, .. }));
    }

    #[test]
    fn arity_and_non_layers_are_errors() {
        let (c, e) = run(syn::parse_quote!(Linear<784>));
        assert!(c.is_none());
        assert!(e[0].contains("`Linear<IN, OUT>` takes 2 arguments, got 1"), "{e:?}");
        let (_, e) = run(syn::parse_quote!(Conv2d<1, 2, 3, 4, 5, 6>));
        assert!(e[0].contains("takes 3 to 5 arguments, got 6"), "{e:?}");
        let (_, e) = run(syn::parse_quote!(u32));
        assert!(e[0].contains("`u32` is not a layer"), "{e:?}");
        let (_, e) = run(syn::parse_quote!((Linear<1, 2>, ReLU)));
        assert!(e[0].contains("is not a layer"), "{e:?}");
        let (_, e) = run(syn::parse_quote!(Linear<"a", 2>));
        assert!(e[0].contains("IN must be a number"), "{e:?}");
    }

    #[test]
    fn pretty_printing() {
        let t: Type = syn::parse_quote!(Conv2d<1, 32, 3>);
        assert_eq!(pretty(&t), "Conv2d<1, 32, 3>");
        let t: Type = syn::parse_quote!(Residual<dl::nn::Linear<4, 4>>);
        assert_eq!(pretty(&t), "Residual<dl::nn::Linear<4, 4>>");
    }
}
