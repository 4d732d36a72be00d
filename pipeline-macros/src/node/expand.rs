//! Code generation for `#[node]`: no validation here.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;
use syn::spanned::Spanned;

use super::options::Options;
use super::parse::{NodeFn, Output};

pub fn node(item: &ItemFn, node: &NodeFn, options: &Options) -> TokenStream {
    let name = &node.name;
    let vis = &item.vis;
    let impl_node = impl_node(item, node, options);
    let shadow = shadow(node);
    let register = register(item, node);
    quote! {
        #item

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #name {}

        const _: () = {
            #impl_node
            #shadow
            #register
        };
    }
}

/// The output type as the fn returns it (the `Ok` type of a `Result`).
fn output_type(node: &NodeFn) -> TokenStream {
    match &node.output {
        Output::Infallible(ty) => quote!(#ty),
        Output::Fallible(ty) => {
            quote_spanned!(ty.span()=> <#ty as ::pipeline::__private::Fallible>::Ok)
        }
    }
}

fn impl_node(item: &ItemFn, node: &NodeFn, options: &Options) -> TokenStream {
    let name = &node.name;
    let name_text = name.to_string();
    let input_types = node.inputs.iter().map(|i| &i.ty);
    let input_names: Vec<_> = node
        .inputs
        .iter()
        // By position: a name like `_unused` would make `__pipeline__unused`, which the
        // `non_snake_case` lint rejects.
        .enumerate()
        .map(|(index, _)| format_ident!("__pipeline_arg{}", index))
        .collect();
    let ctx = format_ident!("__pipeline_ctx");
    let mut args: Vec<TokenStream> = input_names.iter().map(|n| quote!(#n)).collect();
    if let Some(position) = node.ctx_position {
        args.insert(position.min(args.len()), quote!(#ctx));
    }
    let call = quote!(#name(#(#args),*));
    // A wrong error type is reported once, here, at the user's return type.
    let result = |call: TokenStream| match &node.output {
        Output::Fallible(ty) => quote_spanned!(ty.span()=> {
            let __pipeline_result = #call;
            ::pipeline::__private::node_result(__pipeline_result)
        }),
        Output::Infallible(_) => quote!(::core::result::Result::Ok(#call)),
    };
    // The output, as `Result<Output, NodeError>`, in an async block; and `call`'s future.
    let (run, body) = if node.is_async {
        let result = result(quote!(#call.await));
        (
            quote!(#result),
            quote!(::std::boxed::Box::pin(async move { #result })),
        )
    } else {
        let result = result(call);
        let blocking = quote!(::pipeline::__private::blocking(move || #result));
        (
            quote!(#blocking.await),
            quote!(::std::boxed::Box::pin(#blocking)),
        )
    };
    // One boxed future whose output is already erased for the engine (`call` would be boxed again).
    let erased = quote! {
        ::std::boxed::Box::pin(async move {
            let __pipeline_output: ::core::result::Result<Self::Output, ::pipeline::__private::NodeError> = #run;
            __pipeline_output.map(::pipeline::__private::erase)
        })
    };
    let output = output_type(node);
    let output_text = node.output.text();
    let version = options
        .version
        .as_ref()
        .map(|v| quote!(const VERSION: &'static str = #v;));
    let options = options_tokens(options, item, &name_text);
    // One `Data` check per parameter, spanned at its type: the one error a non-serializable input
    // gives (the output's is `Node::Output`'s bound, at the return type).
    let inputs = node.inputs.iter().enumerate().map(|(index, i)| {
        let ty = &i.ty;
        quote_spanned!(ty.span()=> ::pipeline::__private::input::<#ty>(__pipeline_values, #index)?,)
    });
    quote! {
        #[automatically_derived]
        impl ::pipeline::__private::Node for #name {
            type Inputs = (#(#input_types,)*);
            type Output = #output;
            const NAME: &'static str = #name_text;
            const OUTPUT_TYPE: &'static str = #output_text;
            #version

            fn options() -> ::pipeline::__private::NodeOptions {
                #options
            }

            // `Some(PartialEq::eq)` where the output type has one: the probe's `&&` receiver
            // picks `EqByValue` when its `T: PartialEq` bound holds, `EqByCanonical` otherwise.
            #[allow(clippy::needless_borrow)]
            fn output_eq() -> ::core::option::Option<fn(&Self::Output, &Self::Output) -> bool> {
                #[allow(unused_imports)]
                use ::pipeline::__private::{EqByCanonical as _, EqByValue as _};
                (&&::pipeline::__private::EqProbe::<#output>::new()).value_eq()
            }

            #[allow(unused_variables)]
            #[inline]
            fn from_values(
                __pipeline_values: &[&::pipeline::__private::Value],
            ) -> ::core::option::Option<Self::Inputs> {
                ::core::option::Option::Some((#(#inputs)*))
            }

            #[allow(unused_variables)]
            fn call(
                __pipeline_inputs: Self::Inputs,
                #ctx: ::pipeline::__private::NodeContext,
            ) -> ::pipeline::__private::NodeFuture<Self::Output> {
                let (#(#input_names,)*) = __pipeline_inputs;
                #body
            }

            #[allow(unused_variables)]
            fn call_erased(
                __pipeline_inputs: Self::Inputs,
                #ctx: ::pipeline::__private::NodeContext,
            ) -> ::pipeline::__private::ErasedFuture {
                let (#(#input_names,)*) = __pipeline_inputs;
                #erased
            }
        }
    }
}

fn options_tokens(options: &Options, item: &ItemFn, name: &str) -> TokenStream {
    let retries = options.retries;
    let duration = |nanos: Option<u64>| match nanos {
        Some(n) => {
            quote!(::core::option::Option::Some(::pipeline::__private::Duration::from_nanos(#n)))
        }
        None => quote!(::core::option::Option::None),
    };
    let timeout = duration(options.timeout_nanos);
    let backoff = duration(options.backoff_nanos);
    let on_error = match options.skip_downstream {
        Some(true) => quote!(::core::option::Option::Some(
            ::pipeline::__private::OnError::SkipDownstream
        )),
        Some(false) => quote!(::core::option::Option::Some(
            ::pipeline::__private::OnError::FailFast
        )),
        None => quote!(::core::option::Option::None),
    };
    let mut tokens =
        quote!(::pipeline::__private::node_options(#retries, #timeout, #backoff, #on_error));
    if let Some(n) = options.max_in_flight {
        let n = n as usize;
        tokens = quote!(#tokens.max_in_flight(#n));
    }
    if let Some(n) = options.limit {
        tokens = quote!(#tokens.limit(#n));
    }
    if let Some((count, nanos)) = options.rate {
        tokens = quote!(#tokens.rate(::pipeline::__private::rate(#count, #nanos)));
    }
    if let Some(ttl) = options.cache {
        let code = crate::code::fn_digest(item);
        let ttl = match ttl {
            Some(n) => quote!(::core::option::Option::Some(#n)),
            None => quote!(::core::option::Option::None),
        };
        // Each helper's code, read through `Hashed` (spanned at its name: a fn without
        // `#[hashed]` is reported there).
        let helpers = options.uses.iter().map(|path| {
            let text = crate::text::path_text(path);
            quote_spanned!(path.span()=> (#text, <#path as ::pipeline::__private::Hashed>::code as fn() -> ::std::string::String))
        });
        tokens = quote!(#tokens.cache(::pipeline::__private::node_cache(
            #ttl,
            #code,
            ::core::concat!(::core::module_path!(), "::", #name),
            &[#(#helpers),*],
        )));
    }
    tokens
}

/// The signature `pipeline!`'s shadow code calls: the data parameters only, spanned on the user's
/// tokens so that type errors point at them.
fn shadow(node: &NodeFn) -> TokenStream {
    let name = &node.name;
    let params = node.inputs.iter().map(|i| {
        let (n, ty) = (&i.name, &i.ty);
        quote!(#n: #ty)
    });
    let output = output_type(node);
    // Spanned on the fn's name, so "defined here" notes point at the user's fn.
    let shadow = syn::Ident::new("__pipeline_shadow", name.span());
    quote! {
        #[automatically_derived]
        impl #name {
            #[doc(hidden)]
            #[allow(unused_variables, clippy::all)]
            pub fn #shadow(#(#params),*) -> #output {
                ::core::unreachable!()
            }
        }
    }
}

fn register(item: &ItemFn, node: &NodeFn) -> TokenStream {
    let name_text = node.name.to_string();
    let inputs = node.inputs.iter().map(|i| {
        let (n, t) = (i.name.to_string(), crate::text::type_text(&i.ty));
        quote!(::pipeline::__private::Param { name: #n, type_name: #t })
    });
    let output = node.output.text();
    let doc = crate::text::doc_text(&item.attrs);
    let blocking = !node.is_async;
    let line = quote_spanned!(node.name.span()=> ::core::line!());
    quote! {
        ::pipeline::__private::inventory::submit! {
            ::pipeline::__private::NodeInfo {
                name: #name_text,
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: #line,
                inputs: &[#(#inputs),*],
                output_type: #output,
                doc: #doc,
                blocking: #blocking,
            }
        }
    }
}
