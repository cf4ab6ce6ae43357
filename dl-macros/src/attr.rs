//! `#[network(input = [..])]` and the per-field `#[shape([..])]`.

use crate::ctxt::Ctxt;
use crate::symbol;
use proc_macro2::{Span, TokenStream};
use syn::spanned::Spanned;

/// Parsed `#[network(..)]` arguments.
pub struct NetworkArgs {
    /// The per-sample input shape; `None` when missing or malformed
    /// (the error is then in the `Ctxt`).
    pub input: Option<Vec<usize>>,
}

/// Parses the attribute's arguments, recording every problem in `cx`.
pub fn parse_network_args(cx: &Ctxt, args: TokenStream) -> NetworkArgs {
    let mut input: Option<Vec<usize>> = None;
    let mut seen_input = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident(symbol::INPUT) {
            if seen_input {
                cx.error_spanned_by(&meta.path, "duplicate `input` in #[network(..)]");
            }
            seen_input = true;
            let value = meta.value()?;
            let expr: syn::Expr = value.parse()?;
            if let Some(dims) = parse_dims(cx, &expr, "input") {
                input = Some(dims);
            }
            Ok(())
        } else {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_else(|| "this key".to_string());
            cx.error_spanned_by(
                &meta.path,
                format!("unknown key `{key}` in #[network(..)]; the only key is `input = [..]`"),
            );
            // Skip the value so that later keys are still checked.
            if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, args) {
        cx.syn_error(e);
    }
    if !seen_input && !cx.has_errors() {
        cx.error_at(
            Span::call_site(),
            "#[network] needs the per-sample input shape: #[network(input = [1, 28, 28])]",
        );
    }
    NetworkArgs { input }
}

/// `[1, 28, 28]` as an expression, checked: rank 1 to 4, every dimension a
/// positive integer literal.
pub fn parse_dims(cx: &Ctxt, expr: &syn::Expr, what: &str) -> Option<Vec<usize>> {
    let syn::Expr::Array(arr) = expr else {
        cx.error_spanned_by(
            expr,
            format!("expected `{what} = [d0, d1, ..]`, a list of 1 to 4 integer dimensions such as [1, 28, 28]"),
        );
        return None;
    };
    let mut dims = Vec::new();
    let mut ok = true;
    for e in &arr.elems {
        match e {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i), ..
            }) => match i.base10_parse::<usize>() {
                Ok(0) => {
                    cx.error_spanned_by(i, "a dimension must be at least 1");
                    ok = false;
                }
                Ok(v) => dims.push(v),
                Err(err) => {
                    cx.error_spanned_by(i, format!("invalid dimension: {err}"));
                    ok = false;
                }
            },
            other => {
                cx.error_spanned_by(other, "a dimension must be an integer literal");
                ok = false;
            }
        }
    }
    if ok && !(1..=4).contains(&dims.len()) {
        cx.error_spanned_by(
            arr,
            format!("a shape has 1 to 4 dimensions (S1..S4), got {}", dims.len()),
        );
        ok = false;
    }
    ok.then_some(dims)
}

/// A field's `#[shape([..])]`, if any, and the field's other attributes
/// (kept on the generated field).
pub fn field_shape(cx: &Ctxt, attrs: &[syn::Attribute]) -> (Option<Vec<usize>>, Vec<syn::Attribute>) {
    let mut shape = None;
    let mut seen = false;
    let mut rest = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident(symbol::SHAPE) {
            rest.push(attr.clone());
            continue;
        }
        if seen {
            cx.error_spanned_by(attr, "duplicate #[shape(..)] on this field");
            continue;
        }
        seen = true;
        match &attr.meta {
            syn::Meta::List(list) => match syn::parse2::<syn::Expr>(list.tokens.clone()) {
                Ok(expr) => shape = parse_dims(cx, &expr, "shape"),
                Err(_) => cx.error_at(
                    list.tokens.span(),
                    "expected #[shape([d0, d1, ..])], the field's per-sample output shape",
                ),
            },
            other => cx.error_spanned_by(
                other,
                "expected #[shape([d0, d1, ..])], the field's per-sample output shape",
            ),
        }
    }
    (shape, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn args(ts: TokenStream) -> (Option<Vec<usize>>, Vec<String>) {
        let cx = Ctxt::new();
        let a = parse_network_args(&cx, ts);
        let errs = match cx.check() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        };
        (a.input, errs)
    }

    #[test]
    fn input_parses() {
        assert_eq!(args(quote!(input = [1, 28, 28])), (Some(vec![1, 28, 28]), vec![]));
    }

    #[test]
    fn missing_malformed_unknown() {
        assert!(args(quote!()).1[0].contains("needs the per-sample input shape"));
        assert!(args(quote!(input = 28)).1[0].contains("expected `input = [d0, d1, ..]`"));
        assert!(args(quote!(input = [1, x])).1[0].contains("integer literal"));
        assert!(args(quote!(input = [1, 2, 3, 4, 5])).1[0].contains("1 to 4 dimensions"));
        let (_, errs) = args(quote!(inptu = [1], batch = 3, input = [0]));
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].contains("unknown key `inptu`"));
        assert!(errs[1].contains("unknown key `batch`"));
        assert!(errs[2].contains("at least 1"));
    }
}
