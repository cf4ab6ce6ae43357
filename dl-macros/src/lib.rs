//! The `#[network]` attribute macro of `dl` (re-exported as
//! `dl::network` and in `dl::prelude`).
//!
//! The pipeline, in private modules: parse (`ast`, `attr`) -> check shapes
//! (`kinds`, `shape`, `check`) -> expand (`expand`). Every problem becomes a
//! `syn::Error` spanned on the field or attribute at fault; all problems of
//! one declaration are collected in a `ctxt::Ctxt` and reported together.
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod derive_module;
mod expand;
mod kinds;
mod shape;
mod symbol;

use proc_macro::TokenStream;

/// Declares a network: a struct whose fields are its layers, in order.
///
/// ```ignore
/// use dl::prelude::*;
///
/// #[network(input = [1, 28, 28])]      // per-sample input shape; the batch is a runtime size
/// pub struct LeNet {
///     conv1: Conv2d<1, 32, 3>,          // -> [32, 26, 26]
///     relu1: ReLU,
///     pool1: MaxPool2d<2>,              // -> [32, 13, 13]
///     flat: Flatten,                    // -> [5408]
///     fc1: Linear<5408, 10>,
/// }
/// ```
///
/// # Arguments
/// * `input = [d0, ..]` (required): the per-sample input shape, 1 to 4
///   dimensions (`S1`..`S4`).
///
/// # Field attributes
/// * `#[shape([..])]`: states the field's per-sample output shape, for
///   layers whose output only the type checker knows (nested networks,
///   custom layers) when a later layer needs the numbers (`Flatten`, `Conv2d`).
///   The `Layer` bound of the generated calls confirms the statement.
///
/// # Generated
/// `struct Net<B: Backend = Cpu, E: Float = f32>` with each field's type
/// completed (defaults, then `B, E`; unknown types get `<B, E>` appended),
/// `NetCache<B, E>` / `NetGrads<B, E>`, impls of `Module`, `Layer<In, Out>`,
/// `OutputShape<In>` and `Network`, and inherent `init(&dev, seed)`,
/// `new_cache`, `forward`, `forward_train`, `forward_train_with`,
/// `backward(&cache, &dy)`, `backward_with`, `zero_grad`, `train`, `eval`,
/// and `const SUMMARY`.
///
/// # Errors
/// Shape mismatches between consecutive layers, invalid hyperparameters
/// (zero stride, heads not dividing the model dimension, ...), malformed
/// attributes and non-layer field types are compile errors on the field.
#[proc_macro_attribute]
pub fn network(args: TokenStream, item: TokenStream) -> TokenStream {
    network_impl(args.into(), item.into()).into()
}

/// Derives `Module` for a layer struct: `NUM_PARAMS`, `init`, `visit`,
/// `visit_mut`, `for_each_param` and `set_training`, from its fields.
///
/// ```ignore
/// use dl::prelude::*;
/// use dl::core::{Backend, Float, Param, init::Init};
///
/// /// A learned per-feature scale.
/// #[derive(Module, Clone, Debug)]
/// pub struct Scale<const N: usize, B: Backend = Cpu, E: Float = f32> {
///     #[param(init = Init::Const(1.0))]
///     weight: Param<S1<N>, B, E>,   // state_dict name `weight`
/// }
/// ```
///
/// Field kinds: `Param<..>` fields are trainable parameters (`#[buffer]`
/// for buffers; `#[param(init = EXPR, name = "..")]`); other fields are
/// nested modules visited under `name.` (`#[module(flatten)]`,
/// `#[module(name = "..")]`); `PhantomData` fields and fields marked
/// `#[skip]` / `#[skip(init = EXPR)]` are not part of the model; a `bool`
/// marked `#[training]` follows `set_training`; `#[param_list(names = EXPR)]`
/// marks a `Vec<RawParam<B, E>>`. Container attributes:
/// `#[module(init = path)]` (a hand-written `fn(&B, &mut Rng) -> Self`),
/// `#[module(num_params = EXPR)]`, `#[module(crate = path)]`.
#[proc_macro_derive(Module, attributes(param, buffer, param_list, module, skip, training))]
pub fn derive_module(item: TokenStream) -> TokenStream {
    match syn::parse::<syn::DeriveInput>(item).and_then(derive_module::derive) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn network_impl(args: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let parsed: syn::DeriveInput = match syn::parse2(item.clone()) {
        Ok(p) => p,
        Err(e) => {
            let err = e.to_compile_error();
            return quote::quote!(#item #err);
        }
    };
    let cx = ctxt::Ctxt::new();
    let net_args = attr::parse_network_args(&cx, args);
    let decl = match ast::parse(&cx, &parsed) {
        Ok(d) => d,
        Err(e) => {
            let mut all = e;
            if let Err(rest) = cx.check() {
                all.combine(rest);
            }
            let err = all.to_compile_error();
            return quote::quote!(#item #err);
        }
    };
    let (vis, ident, attrs) = (decl.vis.clone(), decl.ident.clone(), decl.attrs.clone());
    let (plan, partial) = check::plan(&cx, decl, net_args.input);
    match (cx.check(), plan) {
        (Ok(()), Some(plan)) => expand::expand(&plan),
        (Err(e), _) => {
            let err = e.to_compile_error();
            let fb = expand::fallback(&vis, &ident, &attrs, &partial);
            quote::quote!(#fb #err)
        }
        (Ok(()), None) => {
            // `plan` is only `None` after an error was recorded; keep a
            // message rather than silently emitting nothing.
            let err = syn::Error::new_spanned(&ident, "#[network]: this declaration could not be expanded")
                .to_compile_error();
            let fb = expand::fallback(&vis, &ident, &attrs, &partial);
            quote::quote!(#fb #err)
        }
    }
}
