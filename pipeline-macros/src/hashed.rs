//! `#[hashed]`: a helper fn whose code is part of the cache key of every cached node that lists
//! it in `uses = [..]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, MetaNameValue, Token};

use crate::ctxt::Ctxt;

pub fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let goes_on = "`#[hashed]` goes on a fn whose code cached nodes depend on";
    let item_fn = match crate::ctxt::item_fn(item, goes_on) {
        Ok(item_fn) => item_fn,
        Err(item_and_error) => return item_and_error,
    };
    let cx = Ctxt::new();
    let uses = uses(&cx, attr);
    if let Err(error) = cx.check() {
        let error = error.to_compile_error();
        return quote!(#item_fn #error);
    }
    let name = &item_fn.sig.ident;
    let vis = &item_fn.vis;
    let code = crate::code::fn_digest(&item_fn);
    let helpers = uses.iter().map(|path| {
        let text = crate::text::path_text(path);
        quote_spanned!(path.span()=> (#text, <#path as ::pipeline::__private::Hashed>::code as fn() -> ::std::string::String))
    });
    quote! {
        #item_fn

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        #[automatically_derived]
        impl ::pipeline::__private::Hashed for #name {
            fn code() -> ::std::string::String {
                ::pipeline::__private::helper_code(#code, &[#(#helpers),*])
            }
        }
    }
}

/// `uses = [a, b]`: the helpers this helper calls, whose code counts as its own.
fn uses(cx: &Ctxt, attr: TokenStream) -> Vec<syn::Path> {
    let mut paths = Vec::new();
    if attr.is_empty() {
        return paths;
    }
    let parser = Punctuated::<MetaNameValue, Token![,]>::parse_terminated;
    let metas = match syn::parse::Parser::parse2(parser, attr) {
        Ok(metas) => metas,
        Err(error) => {
            cx.push(error);
            return paths;
        }
    };
    for meta in metas {
        if !meta.path.is_ident("uses") {
            cx.error_spanned_by(
                &meta.path,
                "`#[hashed]` takes one option: `uses = [helper, ..]`, the `#[hashed]` fns it calls",
            );
            continue;
        }
        match &meta.value {
            Expr::Array(array) => {
                for element in &array.elems {
                    match element {
                        Expr::Path(path) if path.qself.is_none() => paths.push(path.path.clone()),
                        other => {
                            cx.error_spanned_by(other, "expected the name of a `#[hashed]` fn")
                        }
                    }
                }
            }
            other => cx.error_spanned_by(other, "expected a list: `uses = [helper, ..]`"),
        }
    }
    paths
}
