//! `#[derive(Module)]`: `NUM_PARAMS`, `init`, the parameter visitors and
//! `set_training` of a layer, from its fields.
//!
//! Each field is one of:
//! * a parameter: a field of type `Param<..>` (trainable; `#[buffer]` makes
//!   it a buffer such as BatchNorm's running statistics). Its `state_dict`
//!   name is the field name (`#[param(name = "..")]` renames it) and
//!   `#[param(init = EXPR)]` / `#[buffer(init = EXPR)]` gives its
//!   `dl_core::init::Init` (default `Init::Zeros`);
//! * a list of parameters: `#[param_list(names = EXPR)]` on a
//!   `Vec<RawParam<B, E>>`, `EXPR` yielding the names in order (the
//!   struct then states `#[module(num_params = ..)]` and its `init`);
//! * a nested module: any other type (or `#[module]`), visited under
//!   `name.` (`#[module(flatten)]`: under the layer's own prefix;
//!   `#[module(name = "..")]` renames it);
//! * not part of the model: `PhantomData`, or a field marked `#[skip]`
//!   (`#[skip(init = EXPR)]`, default `Default::default()`), or the
//!   `#[training]` flag (a `bool`, set by `set_training`, `true` at init).
//!
//! Only a field marked `#[skip]` (or a `PhantomData`) is left out of the
//! visitors, so a parameter cannot be forgotten: an unmarked field that is
//! not a `Module` is a compile error.
//!
//! Container attributes: `#[module(crate = path)]` (where `Module` lives;
//! default `::dl::nn`), `#[module(init = path)]` (a hand-written
//! `fn(&B, &mut Rng) -> Self` instead of the field-wise init),
//! `#[module(num_params = EXPR)]`, `#[module(structure = EXPR)]` (a
//! `fn() -> Structure` for `Module::structure`).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, LitStr, Path, Type};

enum Kind {
    Param {
        buffer: bool,
        init: Option<Expr>,
        value: Option<Expr>,
    },
    ParamList {
        names: Expr,
    },
    Module {
        flatten: bool,
    },
    Skip {
        init: Option<Expr>,
    },
    Phantom,
    Training,
}

struct Field {
    member: syn::Member,
    name: String,
    ty: Type,
    kind: Kind,
}

#[derive(Default)]
struct Container {
    krate: Option<Path>,
    init: Option<Path>,
    num_params: Option<Expr>,
    structure: Option<Expr>,
    builtin: bool,
}

fn last_segment(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

fn parse_container(input: &DeriveInput) -> syn::Result<Container> {
    let mut c = Container::default();
    for a in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        a.parse_nested_meta(|m| {
            if m.path.is_ident("crate") {
                c.krate = Some(m.value()?.parse()?);
            } else if m.path.is_ident("init") {
                c.init = Some(m.value()?.parse()?);
            } else if m.path.is_ident("num_params") {
                c.num_params = Some(m.value()?.parse()?);
            } else if m.path.is_ident("builtin") {
                c.builtin = true;
            } else if m.path.is_ident("structure") {
                c.structure = Some(m.value()?.parse()?);
            } else {
                return Err(
                    m.error("expected `crate = path`, `init = path`, `num_params = EXPR` or `structure = EXPR`")
                );
            }
            Ok(())
        })?;
    }
    Ok(c)
}

fn parse_field(index: usize, f: &syn::Field) -> syn::Result<Field> {
    let member = match &f.ident {
        Some(id) => syn::Member::Named(id.clone()),
        None => syn::Member::Unnamed(syn::Index::from(index)),
    };
    let mut name = f.ident.as_ref().map(|i| i.to_string());
    let mut kind = None;
    let set = |kind: &mut Option<Kind>, k: Kind, span: &dyn quote::ToTokens| {
        if kind.is_some() {
            return Err(syn::Error::new_spanned(
                span,
                "a field takes one of #[param], #[buffer], #[param_list], #[module], #[skip], #[training]",
            ));
        }
        *kind = Some(k);
        Ok(())
    };
    for a in &f.attrs {
        let p = a.path();
        if p.is_ident("param") || p.is_ident("buffer") {
            let buffer = p.is_ident("buffer");
            let (mut init, mut value) = (None, None);
            if matches!(a.meta, syn::Meta::List(_)) {
                a.parse_nested_meta(|m| {
                    if m.path.is_ident("init") {
                        init = Some(m.value()?.parse()?);
                    } else if m.path.is_ident("value") {
                        value = Some(m.value()?.parse()?);
                    } else if m.path.is_ident("name") {
                        name = Some(m.value()?.parse::<LitStr>()?.value());
                    } else {
                        return Err(m.error("expected `init = EXPR`, `value = EXPR` or `name = \"..\"`"));
                    }
                    Ok(())
                })?;
            }
            set(&mut kind, Kind::Param { buffer, init, value }, a)?;
        } else if p.is_ident("param_list") {
            let mut names = None;
            a.parse_nested_meta(|m| {
                if m.path.is_ident("names") {
                    names = Some(m.value()?.parse()?);
                    Ok(())
                } else {
                    Err(m.error("expected `names = EXPR`"))
                }
            })?;
            let names = names.ok_or_else(|| syn::Error::new_spanned(a, "#[param_list] needs `names = EXPR`"))?;
            set(&mut kind, Kind::ParamList { names }, a)?;
        } else if p.is_ident("module") {
            let mut flatten = false;
            if matches!(a.meta, syn::Meta::List(_)) {
                a.parse_nested_meta(|m| {
                    if m.path.is_ident("flatten") {
                        flatten = true;
                    } else if m.path.is_ident("name") {
                        name = Some(m.value()?.parse::<LitStr>()?.value());
                    } else {
                        return Err(m.error("expected `flatten` or `name = \"..\"`"));
                    }
                    Ok(())
                })?;
            }
            set(&mut kind, Kind::Module { flatten }, a)?;
        } else if p.is_ident("skip") {
            let mut init = None;
            if matches!(a.meta, syn::Meta::List(_)) {
                a.parse_nested_meta(|m| {
                    if m.path.is_ident("init") {
                        init = Some(m.value()?.parse()?);
                        Ok(())
                    } else {
                        Err(m.error("expected `init = EXPR`"))
                    }
                })?;
            }
            set(&mut kind, Kind::Skip { init }, a)?;
        } else if p.is_ident("training") {
            set(&mut kind, Kind::Training, a)?;
        }
    }
    let kind = match kind {
        Some(k) => k,
        None => match last_segment(&f.ty).as_deref() {
            Some("Param") => Kind::Param {
                buffer: false,
                init: None,
                value: None,
            },
            Some("PhantomData") => Kind::Phantom,
            _ => Kind::Module { flatten: false },
        },
    };
    let visited = matches!(
        kind,
        Kind::Param { .. } | Kind::ParamList { .. } | Kind::Module { flatten: false }
    );
    let name = match name {
        Some(n) => n,
        None if visited => {
            return Err(syn::Error::new_spanned(
                f,
                "#[derive(Module)]: a parameter or nested module in a tuple struct needs a name: use named fields",
            ))
        }
        None => String::new(),
    };
    Ok(Field {
        member,
        name,
        ty: f.ty.clone(),
        kind,
    })
}

/// The expansion of `#[derive(Module)]`.
pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let c = parse_container(&input)?;
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n.named.iter().collect::<Vec<_>>(),
            Fields::Unnamed(u) => u.unnamed.iter().collect(),
            Fields::Unit => vec![],
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "#[derive(Module)] works on structs (a layer's fields are its parameters and sub-layers)",
            ))
        }
    };
    let has = |n: &str| input.generics.type_params().any(|p| p.ident == n);
    if !has("B") || !has("E") {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Module)]: the struct takes the backend and float type as parameters `B: Backend` and `E: Float`",
        ));
    }
    let fields = fields
        .iter()
        .enumerate()
        .map(|(i, f)| parse_field(i, f))
        .collect::<syn::Result<Vec<_>>>()?;
    let krate: Path = c.krate.unwrap_or_else(|| syn::parse_quote!(::dl::nn));
    let d = quote!(#krate::__derive);
    let named = matches!(&input.data, Data::Struct(s) if matches!(s.fields, Fields::Named(_)));

    let mut num = vec![];
    let mut bounds = vec![];
    let mut init = vec![];
    let mut visit = vec![];
    let mut visit_mut = vec![];
    let mut each = vec![];
    let mut training = vec![];
    for f in &fields {
        let (m, ty, name) = (&f.member, &f.ty, &f.name);
        let span = ty.span();
        let value = match &f.kind {
            Kind::Param { buffer, init, value } => {
                let raw = last_segment(ty).as_deref() == Some("RawParam");
                if !buffer {
                    if raw && c.num_params.is_none() {
                        return Err(syn::Error::new_spanned(
                            ty,
                            "#[derive(Module)]: a trainable `RawParam` field has no compile-time size: \
                             use `Param<Shape, B, E>` or state `#[module(num_params = ..)]` on the struct",
                        ));
                    }
                    num.push(quote_spanned!(span=> <#ty>::NUMEL));
                }
                if raw && value.is_none() && c.init.is_none() {
                    return Err(syn::Error::new_spanned(
                        ty,
                        "#[derive(Module)]: a `RawParam` field needs `#[param(value = EXPR)]` (or `#[buffer(value = EXPR)]`), \
                         or the struct's `#[module(init = ..)]`",
                    ));
                }
                let kind = if *buffer { quote!(Buffer) } else { quote!(Trainable) };
                visit.push(quote!(f(&::std::format!("{}{}", prefix, #name), &self.#m);));
                visit_mut.push(quote!(f(&::std::format!("{}{}", prefix, #name), &mut self.#m);));
                each.push(quote!(f(&mut self.#m);));
                let made = match value {
                    Some(v) => quote!(#v),
                    None => {
                        let init = init.clone().unwrap_or_else(|| syn::parse_quote!(#d::Init::Zeros));
                        quote_spanned!(span=> <#ty>::init(dev, #init, rng))
                    }
                };
                quote_spanned!(span=> {
                    let mut p = #made;
                    p.kind = #d::ParamKind::#kind;
                    p
                })
            }
            Kind::ParamList { names } => {
                visit.push(quote!(for (p, n) in self.#m.iter().zip(#names) {
                    f(&::std::format!("{}{}", prefix, ::core::convert::AsRef::<str>::as_ref(&n)), p);
                }));
                visit_mut.push(quote!(for (p, n) in self.#m.iter_mut().zip(#names) {
                    f(&::std::format!("{}{}", prefix, ::core::convert::AsRef::<str>::as_ref(&n)), p);
                }));
                each.push(quote!(for p in self.#m.iter_mut() { f(p); }));
                quote!(::core::default::Default::default())
            }
            Kind::Module { flatten } => {
                let as_m = quote_spanned!(span=> <#ty as #d::Module<B, E>>);
                bounds.push(quote_spanned!(span=> #ty: #d::Module<B, E>));
                num.push(quote!(#as_m::NUM_PARAMS));
                let p = if *flatten {
                    quote!(prefix)
                } else {
                    let dot = format!("{name}.");
                    quote!(&::std::format!("{}{}", prefix, #dot))
                };
                visit.push(quote!(#as_m::visit(&self.#m, #p, f);));
                visit_mut.push(quote!(#as_m::visit_mut(&mut self.#m, #p, f);));
                each.push(quote!(#as_m::for_each_param(&mut self.#m, f);));
                training.push(quote!(#as_m::set_training(&mut self.#m, training);));
                quote!(#as_m::init_with(dev, rng))
            }
            Kind::Skip { init } => match init {
                Some(e) => quote!(#e),
                None => quote!(::core::default::Default::default()),
            },
            Kind::Phantom => quote!(::core::marker::PhantomData),
            Kind::Training => {
                training.push(quote!(self.#m = training;));
                quote!(true)
            }
        };
        init.push((m.clone(), value));
    }
    let init_body = match &c.init {
        Some(p) => quote!(#p(dev, rng)),
        None => {
            let vals = init.iter().map(|(m, v)| match m {
                syn::Member::Named(id) => quote!(#id: #v,),
                syn::Member::Unnamed(_) => quote!(#v,),
            });
            if fields.is_empty() && !named {
                quote!(Self)
            } else if named {
                quote!(Self { #(#vals)* })
            } else {
                quote!(Self(#(#vals)*))
            }
        }
    };
    let num_params = match &c.num_params {
        Some(e) => quote!(#e),
        None if num.is_empty() => quote!(0),
        None => quote!(#(#num)+*),
    };
    // `structure = f`: `Module::structure` is `f()` (a residual connection's branches).
    let structure = c.structure.as_ref().map(|e| {
        quote! {
            fn structure() -> #krate::summary::Structure {
                (#e)()
            }
        }
    });
    let name = &input.ident;
    let (ig, tg, wc) = input.generics.split_for_impl();
    let mut preds: Vec<TokenStream> = wc
        .map(|w| w.predicates.iter().map(|p| quote!(#p)).collect())
        .unwrap_or_default();
    preds.extend(bounds);
    let builtin = c.builtin.then(|| {
        quote! {
            #[automatically_derived]
            impl #ig #krate::layers::BuiltinLayer for #name #tg #wc {}
        }
    });
    Ok(quote! {
        #builtin

        #[automatically_derived]
        impl #ig #d::Module<B, E> for #name #tg where #(#preds,)* {
            const NUM_PARAMS: usize = #num_params;
            #[allow(unused_variables)]
            fn init_with(dev: &B, rng: &mut #d::Rng) -> Self {
                #init_body
            }
            #[allow(unused_variables)]
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, &#d::RawParam<B, E>)) {
                #(#visit)*
            }
            #[allow(unused_variables)]
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, &mut #d::RawParam<B, E>)) {
                #(#visit_mut)*
            }
            #[allow(unused_variables)]
            fn for_each_param(&mut self, f: &mut dyn FnMut(&mut #d::RawParam<B, E>)) {
                #(#each)*
            }
            #[allow(unused_variables)]
            fn set_training(&mut self, training: bool) {
                #(#training)*
            }
            #structure
        }
    })
}
