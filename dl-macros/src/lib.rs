//! The `#[network]` attribute macro (see the `dl` crate docs).
#![warn(missing_docs)]

use proc_macro::TokenStream;

/// Declares a network; not implemented yet: it passes the item through.
#[proc_macro_attribute]
pub fn network(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
