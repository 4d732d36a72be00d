//! The code of a pipeline's waits: the typed enum of its signals (`PayoutSignal::Approval(..)`),
//! a wait's wiring and its shadow.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::ast::{PipelineDef, Statement};
use super::signal::SignalSpec;

/// The enum variant of a wait: its binding in UpperCamelCase (`approval` -> `Approval`).
fn variant(binding: &Ident) -> Ident {
    let text: String = binding
        .to_string()
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect();
    Ident::new(&text, binding.span())
}

/// `<Name>Signal`, one variant per wait holding its payload, convertible into a
/// `pipeline::Signal` for `PipelineEngine::signal`; nothing when the pipeline has no waits.
pub fn signal_enum(def: &PipelineDef) -> TokenStream {
    let waits: Vec<(&Statement, &SignalSpec)> = def
        .statements
        .iter()
        .filter_map(|s| Some((s, s.signal.as_ref()?)))
        .filter(|(_, spec)| spec.timer_nanos.is_none())
        .collect();
    if waits.is_empty() {
        return TokenStream::new();
    }
    let (vis, name) = (&def.vis, format_ident!("{}Signal", def.name));
    let doc = format!(
        " A signal for a wait of the [`{}`] pipeline: send it with `PipelineEngine::signal`.",
        def.name
    );
    let variants = waits.iter().map(|(s, spec)| {
        let (variant, ty) = (variant(&s.binding), &spec.ty);
        let doc = format!(" The payload of the wait `{}`.", s.binding);
        quote!(#[doc = #doc] #variant(#ty),)
    });
    let arms = waits.iter().map(|(s, _)| {
        let (variant, wait) = (variant(&s.binding), s.binding.to_string());
        quote!(#name::#variant(payload) => ::pipeline::__private::Signal::new(#wait, &payload),)
    });
    quote! {
        #[doc = #doc]
        #vis enum #name {
            #(#variants)*
        }

        #[automatically_derived]
        impl ::pipeline::__private::IntoSignal for #name {
            fn into_signal(
                self,
            ) -> ::core::result::Result<::pipeline::__private::Signal, ::pipeline::__private::serde_json::Error> {
                match self {
                    #(#arms)*
                }
            }
        }
    }
}

/// The shadow of a wait: a value of its payload type, which must be able to cross an edge.
pub fn shadow(binding: &Ident, spec: &SignalSpec) -> TokenStream {
    let ty = &spec.ty;
    let call = quote_spanned!(ty.span()=> ::pipeline::__private::signal_shadow::<#ty>());
    quote!(let #binding: #ty = #call;)
}

/// The wiring of a wait: `add_signal` (or `add_timer`) with the names it comes after, its gate
/// and timeout (or due time).
pub fn wiring(
    spec: &SignalSpec,
    inputs: &Ident,
    id: &str,
    args: impl Iterator<Item = Ident>,
    gate: TokenStream,
) -> TokenStream {
    if let Some(n) = spec.timer_nanos {
        let add = quote_spanned!(spec.keyword.span()=> ::pipeline::__private::add_timer::<#inputs>);
        return quote! {
            #add(
                &mut __pipeline_builder,
                #id,
                &[#(#args),*],
                #gate,
                ::pipeline::__private::Duration::from_nanos(#n),
            )
        };
    }
    let ty = &spec.ty;
    let type_name = crate::text::type_text(ty);
    let timeout = match spec.timeout_nanos {
        Some(n) => {
            quote!(::core::option::Option::Some(::pipeline::__private::Duration::from_nanos(#n)))
        }
        None => quote!(::core::option::Option::None),
    };
    let add =
        quote_spanned!(spec.keyword.span()=> ::pipeline::__private::add_signal::<#inputs, #ty>);
    quote! {
        #add(&mut __pipeline_builder, #id, &[#(#args),*], #gate, #timeout, #type_name)
    }
}
