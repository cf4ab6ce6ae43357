//! Walks the fields in order: completes each type, checks its
//! hyperparameters and its input shape, and decides each field's input and
//! output shape types. One error per problem, spanned on the field.

use crate::ast::Decl;
use crate::attr;
use crate::ctxt::Ctxt;
use crate::kinds::{self, FieldKind};
use crate::shape::{self, fmt_dims, Kind, Producer};
use crate::symbol;
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// One field, ready for expansion.
pub struct FieldPlan {
    /// Field name.
    pub ident: syn::Ident,
    /// Attributes other than `#[shape]`.
    pub attrs: Vec<syn::Attribute>,
    /// The completed layer type.
    pub ty: syn::Type,
    /// The type as written (for the summary and docs).
    pub written: String,
    /// Input shape type.
    pub in_ty: TokenStream,
    /// Output shape type.
    pub out_ty: TokenStream,
    /// Output dims when the macro knows them.
    pub out_dims: Option<Vec<usize>>,
    /// Whether the type checker, not the macro, vouches for this field
    /// (unknown layer types, opaque inputs or outputs, residuals around
    /// unknown blocks): its `Layer` bound is then checked explicitly,
    /// spanned on the field, and added as a `where` clause of the impls.
    pub type_checked: bool,
    /// Whether `out_ty` is an `OutputShape` projection of this field's type.
    pub out_is_projection: bool,
    /// Whether the macro read the field as a built-in layer (by its name):
    /// the expansion checks that the type is dl's.
    pub builtin: bool,
    /// Span of the field's type as written.
    pub span: proc_macro2::Span,
}

/// The whole network, ready for expansion.
pub struct Plan {
    /// The declaration.
    pub decl: Decl,
    /// Per-sample input dims.
    pub input_dims: Vec<usize>,
    /// Input shape type.
    pub in_ty: TokenStream,
    /// Output shape type.
    pub out_ty: TokenStream,
    /// Fields in order.
    pub fields: Vec<FieldPlan>,
    /// Type aliases naming the outputs only the type checker knows
    /// (`__Net_block_Out<B, E>`), with their definitions.
    pub aliases: Vec<(syn::Ident, TokenStream)>,
}

/// A field that could not be completed: kept for the fallback struct.
pub struct Partial {
    /// Completed fields (`ident`, attrs, type).
    pub fields: Vec<(syn::Ident, Vec<syn::Attribute>, syn::Type)>,
}

/// The shape flowing between two layers.
#[derive(Clone)]
enum Cur {
    Known {
        dims: Vec<usize>,
        note: Option<String>,
        producer: Option<String>,
    },
    /// Only the type checker knows it.
    Opaque { ty: TokenStream, producer: String },
    /// An earlier error: later fields are not shape-checked.
    Broken,
}

/// `S3<1, 28, 28>`.
pub fn shape_type(dims: &[usize]) -> TokenStream {
    let lits = dims
        .iter()
        .map(|d| syn::LitInt::new(&d.to_string(), proc_macro2::Span::call_site()));
    let s = quote::format_ident!("S{}", dims.len());
    quote!(::dl::core::#s<#(#lits),*>)
}

impl Cur {
    fn ty(&self) -> TokenStream {
        match self {
            Cur::Known { dims, .. } => shape_type(dims),
            Cur::Opaque { ty, .. } => ty.clone(),
            Cur::Broken => quote!(()),
        }
    }
}

/// Builds the plan; errors go to `cx`. Also returns the completed fields
/// for the fallback struct.
pub fn plan(cx: &Ctxt, decl: Decl, input: Option<Vec<usize>>) -> (Option<Plan>, Partial) {
    let mut cur = match &input {
        Some(dims) => Cur::Known {
            dims: dims.clone(),
            note: None,
            producer: None,
        },
        None => Cur::Broken,
    };
    let names: Vec<String> = decl
        .fields
        .iter()
        .filter_map(|f| f.ident.as_ref())
        .map(|i| i.to_string())
        .collect();
    let mut fields = Vec::new();
    let mut aliases = Vec::new();
    let mut partial = Partial { fields: Vec::new() };
    let mut complete_ok = true;

    for f in &decl.fields {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        let name = ident.to_string();
        // Names the generated cache struct uses itself.
        let collides = symbol::RESERVED_CACHE_FIELDS.contains(&name.as_str())
            || name
                .strip_suffix(symbol::CACHE_SUFFIX)
                .is_some_and(|base| names.iter().any(|n| n == base));
        if collides {
            cx.error_spanned_by(
                &ident,
                format!(
                    "field name `{name}` is taken by the generated cache struct (`input`, `output`, `grads` \
                     and `<field>_cache`); rename the field"
                ),
            );
        }
        let (stated, attrs) = attr::field_shape(cx, &f.attrs);
        let written = kinds::pretty(&f.ty);
        let Some(c) = kinds::complete(cx, &name, &f.ty) else {
            complete_ok = false;
            cur = match &stated {
                Some(dims) => Cur::Known {
                    dims: dims.clone(),
                    note: None,
                    producer: Some(name),
                },
                None => Cur::Broken,
            };
            continue;
        };
        partial.fields.push((ident.clone(), attrs.clone(), c.ty.clone()));
        let mut invalid = false;
        if let FieldKind::Known { kind: Some(k), .. } = &c.kind {
            for msg in shape::validate(&name, k) {
                cx.error_spanned_by(f, msg);
                invalid = true;
            }
        }
        let in_known = matches!(cur, Cur::Known { .. });
        if invalid {
            // The input shape check would only repeat the problem.
            cur = Cur::Broken;
        }
        let in_ty = cur.ty();
        let ty = &c.ty;
        // The output of a layer only the type checker knows, named once by
        // a type alias: later fields refer to the alias, so a field type
        // that does not resolve (a typo) is reported once, at the field.
        let alias = quote::format_ident!("__{}_{}_Out", decl.ident, name);
        let mut projection = || {
            let span = f.ty.span();
            aliases.push((
                alias.clone(),
                quote_spanned!(span=> <#ty as ::dl::nn::OutputShape<#in_ty>>::Out),
            ));
            quote!(#alias<B, E>)
        };
        let known = |dims: Vec<usize>, note: Option<String>| Cur::Known {
            dims,
            note,
            producer: Some(name.clone()),
        };
        let next = match (&cur, &c.kind) {
            (Cur::Broken, _) => match &stated {
                Some(d) => known(d.clone(), None),
                None => Cur::Broken,
            },
            (Cur::Known { dims, note, producer }, FieldKind::Known { kind: Some(k), .. })
                if !matches!(
                    k,
                    Kind::ResidualProj {
                        block: None,
                        proj: None
                    }
                ) =>
            {
                let x = Producer {
                    name: producer.as_deref(),
                    dims,
                    note: note.as_deref(),
                };
                match shape::infer(&name, k, &x) {
                    Ok(o) => match &stated {
                        Some(s) if *s != o.dims => {
                            cx.error_spanned_by(
                                f,
                                format!(
                                    "{name}: #[shape({})] states the output, but {} produces {} from {}",
                                    fmt_dims(s),
                                    k.name(),
                                    fmt_dims(&o.dims),
                                    fmt_dims(dims)
                                ),
                            );
                            known(s.clone(), None)
                        }
                        _ => known(o.dims, o.note),
                    },
                    Err(msg) => {
                        cx.error_spanned_by(f, msg);
                        // Later layers are checked against what this one
                        // produces from the input it expects.
                        let repaired = shape::repaired_input(k, dims).and_then(|r| {
                            let x = Producer {
                                name: None,
                                dims: &r,
                                note: None,
                            };
                            shape::infer(&name, k, &x).ok()
                        });
                        match (&stated, repaired) {
                            (Some(d), _) => known(d.clone(), None),
                            (None, Some(o)) => known(o.dims, None),
                            (None, None) => Cur::Broken,
                        }
                    }
                }
            }
            (_, kind) => match &stated {
                Some(d) => known(d.clone(), None),
                None => match kind {
                    FieldKind::Known {
                        kind: Some(Kind::BatchNorm1d { c }),
                        ..
                    } => known(vec![*c], None),
                    k if k.type_computable() => Cur::Opaque {
                        ty: projection(),
                        producer: name.clone(),
                    },
                    FieldKind::Known { name: kname, kind } => {
                        let msg = match (&cur, kind) {
                            (Cur::Opaque { producer, .. }, Some(_)) => format!(
                                "{name}: {kname} needs the literal shape of its input to compute its output, \
                                 but the output of `{producer}` is only known to the type checker; \
                                 state it with #[shape([..])] on `{producer}`"
                            ),
                            _ => format!(
                                "{name}: the arguments of {kname} must be integer literals for #[network] to \
                                 compute its output shape (or state it with #[shape([..])] on `{name}`)"
                            ),
                        };
                        cx.error_spanned_by(f, msg);
                        Cur::Broken
                    }
                    FieldKind::Unknown => Cur::Opaque {
                        ty: projection(),
                        producer: name.clone(),
                    },
                },
            },
        };
        let out_dims = match &next {
            Cur::Known { dims, .. } => Some(dims.clone()),
            _ => None,
        };
        let out_ty = next.ty();
        let out_is_projection = matches!(next, Cur::Opaque { ref producer, .. } if *producer == name);
        let fully_known = matches!(&c.kind, FieldKind::Known { kind: Some(k), .. } if k.fully_known());
        let type_checked = !(fully_known && in_known && out_dims.is_some());
        cur = next;
        fields.push(FieldPlan {
            ident,
            attrs,
            ty: c.ty.clone(),
            written,
            in_ty,
            out_ty,
            out_dims,
            type_checked,
            out_is_projection,
            builtin: matches!(c.kind, FieldKind::Known { .. }),
            span: f.ty.span(),
        });
    }
    let plan = match (input, complete_ok, cx.has_errors(), matches!(cur, Cur::Broken)) {
        (Some(input_dims), true, false, false) => Some(Plan {
            in_ty: shape_type(&input_dims),
            out_ty: cur.ty(),
            input_dims,
            fields,
            aliases,
            decl,
        }),
        _ => None,
    };
    (plan, partial)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_string(ty: &impl quote::ToTokens) -> String {
        kinds::pretty(ty)
    }

    fn plan_of(input: &[usize], item: syn::DeriveInput) -> (Option<Plan>, Vec<String>) {
        let cx = Ctxt::new();
        let decl = crate::ast::parse(&cx, &item).unwrap();
        let (p, _) = plan(&cx, decl, Some(input.to_vec()));
        let errs = match cx.check() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (p, errs)
    }

    #[test]
    fn lenet_plan() {
        let (p, e) = plan_of(
            &[1, 28, 28],
            syn::parse_quote! {
                struct LeNet {
                    conv1: Conv2d<1, 32, 3>, relu1: ReLU, pool1: MaxPool2d<2>,
                    conv2: Conv2d<32, 64, 3>, relu2: ReLU, pool2: MaxPool2d<2>,
                    flat: Flatten, fc1: Linear<1600, 128>, relu3: ReLU, fc2: Linear<128, 10>,
                }
            },
        );
        assert!(e.is_empty(), "{e:?}");
        let p = p.unwrap();
        let outs: Vec<Vec<usize>> = p.fields.iter().map(|f| f.out_dims.clone().unwrap()).collect();
        assert_eq!(outs[6], vec![1600]);
        assert_eq!(outs[9], vec![10]);
        assert_eq!(type_string(&p.out_ty), "::dl::core::S1<10>");
        assert_eq!(type_string(&p.fields[2].ty), "MaxPool2d<2, 2, 0, B, E>");
    }

    #[test]
    fn all_errors_of_a_declaration_are_reported() {
        let (p, e) = plan_of(
            &[1, 28, 28],
            syn::parse_quote! {
                struct Bad {
                    conv1: Conv2d<3, 8, 3>,
                    fc1: Linear<10, 10>,
                    attn: MultiHeadAttention<10, 4>,
                    x: u32,
                }
            },
        );
        assert!(p.is_none());
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(e[0].contains("conv1: Conv2d expects 3 input channels"));
        // fc1 is checked against what conv1 produces from 3 channels.
        assert!(e[1]
            .contains("fc1: Linear maps the last axis, which must hold 10 features, but conv1 produces [8, 26, 26]"));
        assert!(e[2].contains("not divisible by 4 heads"));
        assert!(e[3].contains("`u32` is not a layer"));
    }

    #[test]
    fn independent_mismatches_are_all_reported() {
        let (p, e) = plan_of(
            &[10],
            syn::parse_quote! { struct N { fc1: Linear<11, 20>, fc2: Linear<21, 5>, fc3: Linear<5, 2> } },
        );
        assert!(p.is_none());
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("fc1: Linear expects 11 input features"), "{e:?}");
        assert!(
            e[1].contains("fc2: Linear expects 21 input features, but fc1 produces [20]"),
            "{e:?}"
        );
        // A conv with the wrong channel count still passes its spatial size on.
        let (_, e) = plan_of(
            &[3, 8, 8],
            syn::parse_quote! { struct N { c1: Conv2d<1, 4, 3>, flat: Flatten, fc: Linear<100, 2> } },
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[1].contains("fc: Linear expects 100 input features, but flat produces [144]"),
            "{e:?}"
        );
    }

    #[test]
    fn flatten_of_rank_one_is_the_identity() {
        let (p, e) = plan_of(
            &[8, 4, 4],
            syn::parse_quote! { struct N { gap: GlobalAvgPool2d, flat: Flatten, fc: Linear<8, 2> } },
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(p.unwrap().fields[1].out_dims, Some(vec![8]));
    }

    #[test]
    fn unknown_layers_are_typed_through_output_shape() {
        let (p, e) = plan_of(
            &[8],
            syn::parse_quote! { struct N { a: MyLayer, fc: Linear<4, 2>, b: Residual<Block> } },
        );
        assert!(e.is_empty(), "{e:?}");
        let p = p.unwrap();
        // Named once by a type alias, which the later fields refer to.
        assert_eq!(type_string(&p.fields[0].out_ty), "__N_a_Out<B, E>");
        assert!(type_string(&p.aliases[0].1).contains("OutputShape"));
        // `Linear` maps the last axis of inputs of rank 1 to 3: after an
        // opaque layer its output is typed through `OutputShape` too.
        assert_eq!(p.fields[1].out_dims, None);
        assert_eq!(type_string(&p.fields[1].out_ty), "__N_fc_Out<B, E>");
        assert_eq!(p.fields[2].out_dims, None);
    }

    #[test]
    fn literal_shapes_after_opaque_need_a_statement() {
        let (_, e) = plan_of(
            &[3, 8, 8],
            syn::parse_quote! { struct N { block: Block, flat: Flatten } },
        );
        assert!(e[0].contains("state it with #[shape([..])] on `block`"), "{e:?}");
        let (p, e) = plan_of(
            &[3, 8, 8],
            syn::parse_quote! { struct N { #[shape([3, 8, 8])] block: Block, flat: Flatten } },
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(p.unwrap().fields[1].out_dims, Some(vec![192]));
    }

    #[test]
    fn reserved_names() {
        let (_, e) = plan_of(&[4], syn::parse_quote! { struct N { output: ReLU } });
        assert!(e[0].contains("taken by the generated cache struct"), "{e:?}");
    }
}
