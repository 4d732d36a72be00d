//! `#[node]`: parse the options and the fn, then generate the node's hidden type.

mod expand;
pub(crate) mod options;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let goes_on = "`#[node]` goes on a fn: `async fn name(input: Type, ...) -> Output { ... }`";
    let item_fn = match crate::ctxt::item_fn(item, goes_on) {
        Ok(item_fn) => item_fn,
        Err(item_and_error) => return item_and_error,
    };
    let cx = Ctxt::new();
    let options = options::parse(&cx, attr);
    let node = parse::NodeFn::from_item(&cx, &item_fn);
    match cx.check() {
        Ok(()) => {
            let expansion = expand::node(&item_fn, &node, &options);
            crate::debug::maybe_print(&node.name.to_string(), &expansion);
            expansion
        }
        // Still emit the user's fn, so its own uses and unit tests do not add errors.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#item_fn #error)
        }
    }
}
