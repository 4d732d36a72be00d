//! `#[node]`: parse the options and the fn, then generate the node's hidden type.

mod expand;
mod options;
mod parse;

use proc_macro2::TokenStream;
use quote::quote;

use crate::ctxt::Ctxt;

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(item_fn) => item_fn,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "`#[node]` goes on a fn: `async fn name(input: Type, ...) -> Output { ... }`",
            );
            let error = error.to_compile_error();
            return quote!(#item #error);
        }
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

/// A type as a user would write it: `Vec<Order>`, not `Vec < Order >`.
pub fn type_text(ty: &syn::Type) -> String {
    let text = quote!(#ty).to_string();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let drop_space = c == ' '
            && (matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']'))
                || out.ends_with(['<', '(', '[', '&'])
                || out.ends_with("::"));
        if !drop_space {
            out.push(c);
        }
    }
    out
}

/// The text of the `#[doc]` attributes, one line each.
pub fn doc_text(attrs: &[syn::Attribute]) -> String {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value().trim().to_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_text_reads_like_source() {
        let ty: syn::Type =
            syn::parse_quote!(std::collections::HashMap<String, Vec<(u8, &'static str)>>);
        assert_eq!(
            type_text(&ty),
            "std::collections::HashMap<String, Vec<(u8, &'static str)>>"
        );
    }
}
