//! The declaration: a struct with named fields, no generics.

use crate::ctxt::Ctxt;

/// The parts of a `#[network]` struct the expansion needs.
pub struct Decl {
    /// Attributes of the struct (doc comments, derives), kept.
    pub attrs: Vec<syn::Attribute>,
    /// Visibility.
    pub vis: syn::Visibility,
    /// Name.
    pub ident: syn::Ident,
    /// Fields in declaration order.
    pub fields: Vec<syn::Field>,
}

/// Parses the item; `Err` when it is not a struct with named fields (the
/// caller then re-emits the item unchanged with the error). Problems that
/// still allow a best-effort expansion are recorded in `cx`.
pub fn parse(cx: &Ctxt, item: &syn::DeriveInput) -> Result<Decl, syn::Error> {
    let what = match &item.data {
        syn::Data::Enum(_) => Some("an enum"),
        syn::Data::Union(_) => Some("a union"),
        syn::Data::Struct(s) => match &s.fields {
            syn::Fields::Named(n) if n.named.is_empty() => Some("a struct without fields"),
            syn::Fields::Named(_) => None,
            syn::Fields::Unnamed(_) => Some("a tuple struct"),
            syn::Fields::Unit => Some("a unit struct"),
        },
    };
    if let Some(what) = what {
        return Err(syn::Error::new_spanned(
            &item.ident,
            format!(
                "#[network] expects a struct with named fields, one per layer (`fc1: Linear<784, 10>`), \
                 but `{}` is {what}",
                item.ident
            ),
        ));
    }
    if !item.generics.params.is_empty() || item.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &item.generics,
            "a #[network] struct takes no generic parameters: the macro adds the backend `B` and the dtype `E` itself",
        );
    }
    let fields = match &item.data {
        syn::Data::Struct(syn::DataStruct {
            fields: syn::Fields::Named(n),
            ..
        }) => n.named.iter().cloned().collect(),
        _ => Vec::new(),
    };
    Ok(Decl {
        attrs: item.attrs.clone(),
        vis: item.vis.clone(),
        ident: item.ident.clone(),
        fields,
    })
}
