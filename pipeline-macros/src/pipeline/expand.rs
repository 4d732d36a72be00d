//! Code generation for `pipeline!`: no validation here (see `check`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::ast::{PipelineDef, Statement};
use super::check::Plan;
use super::names::{Names, local, names, node_type, node_types, type_of};
use crate::text::type_text;

pub fn pipeline(def: &PipelineDef, plan: &Plan) -> TokenStream {
    let Names {
        inputs, checkpoint, ..
    } = names(def);
    let output = &def.output;
    let items = super::items::items(def, true);
    let impl_pipeline = impl_pipeline(
        def,
        quote!(#checkpoint),
        quote! {
            static GRAPH: ::pipeline::__private::OnceLock<
                ::pipeline::__private::Graph<#inputs, #output>,
            > = ::pipeline::__private::OnceLock::new();
            ::core::clone::Clone::clone(GRAPH.get_or_init(__pipeline_graph))
        },
    );
    let graph = graph_fn(def, plan);
    let fingerprint = fingerprint_const(def, plan);
    let shadow = shadow(def, &plan.order);
    let register = super::register::register(def, plan);
    let signals = super::signals::signal_enum(def);
    let node_types = node_types(def);
    quote! {
        #node_types
        #items
        #signals

        const _: () = {
            #impl_pipeline

            #[automatically_derived]
            impl ::pipeline::__private::FromCheckpoint for #checkpoint {
                fn from_checkpoint(
                    checkpoint: &::pipeline::__private::Checkpoint,
                ) -> ::core::result::Result<Self, ::pipeline::__private::serde_json::Error> {
                    ::pipeline::__private::typed_checkpoint(checkpoint)
                }
            }

            #fingerprint
            #graph
            #shadow
            #register
        };
    }
}

/// The `Pipeline` impl of the pipeline struct, with its checkpoint type and `graph()` body.
fn impl_pipeline(def: &PipelineDef, checkpoint: TokenStream, graph: TokenStream) -> TokenStream {
    let Names { name, inputs, .. } = names(def);
    let output = &def.output;
    quote! {
        #[automatically_derived]
        impl ::pipeline::__private::Pipeline for #name {
            type Inputs = #inputs;
            type Output = #output;
            type Checkpoint = #checkpoint;

            fn graph(&self) -> ::pipeline::__private::Graph<#inputs, #output> {
                #graph
            }
        }
    }
}

/// The items of a pipeline with errors, so that its uses add no errors of their own.
pub fn stubs(def: &PipelineDef) -> TokenStream {
    let checkpoint = &names(def).checkpoint;
    let items = super::items::items(def, false);
    let impl_pipeline = impl_pipeline(
        def,
        quote!(::pipeline::__private::Checkpoint),
        quote!(::core::unreachable!(
            "`pipeline!` reported errors for `{}`",
            stringify!(#checkpoint)
        )),
    );
    quote! {
        #items

        const _: () = {
            #impl_pipeline
        };
    }
}

fn graph_fn(def: &PipelineDef, plan: &Plan) -> TokenStream {
    let Names { name, inputs, .. } = names(def);
    let name_text = name.to_string();
    let output = &def.output;
    let input_handles = def.inputs.iter().map(|i| {
        let (n, local) = (i.name.to_string(), local(&i.name));
        let (field, type_name) = (&i.name, type_text(&i.ty));
        quote! {
            let #local = ::pipeline::__private::add_input(
                &mut __pipeline_builder,
                #n,
                #type_name,
                |__pipeline_inputs: &#inputs| ::core::clone::Clone::clone(&__pipeline_inputs.#field),
            );
        }
    });
    let nodes = plan
        .order
        .iter()
        .map(|&i| node_handle(def, &def.statements[i], &plan.condition_names[i]));
    // Each part of a key spanned at its name, so that a type that cannot be a key is reported
    // there.
    let key_json = |names: &[Ident]| {
        let parts = names.iter().map(|name| {
            quote_spanned!(name.span()=> ::pipeline::__private::key_part(&__pipeline_inputs.#name),)
        });
        quote! {
            |__pipeline_inputs: &#inputs| {
                ::pipeline::__private::serde_json::to_string(&(#(#parts)*))
            }
        }
    };
    let key = def.idempotent.as_ref().map(|idempotent| {
        let key = key_json(&idempotent.key);
        quote!(::pipeline::__private::idempotent(&mut __pipeline_builder, #key);)
    });
    let run_limit = def.run_limit.as_ref().map(|limit| {
        let (key, runs) = (key_json(&limit.key), limit.runs);
        quote!(::pipeline::__private::limit_runs(&mut __pipeline_builder, #key, #runs);)
    });
    let fair = def.fair.as_ref().map(|fair| {
        let key = key_json(&fair.key);
        quote!(::pipeline::__private::fair(&mut __pipeline_builder, #key);)
    });
    let schedules = def.schedules.iter().map(|s| {
        let (name, cron, inputs_fn) = (&s.name, &s.cron, &s.inputs);
        let tz =
            s.tz.as_ref()
                .map_or_else(|| quote!("UTC"), |tz| quote!(#tz));
        let missed = match s.missed {
            None => quote!(::core::option::Option::None),
            Some(n) => quote!(::core::option::Option::Some(#n)),
        };
        // The inputs fn spanned at its path: a fn of the wrong type is reported there.
        let inputs_fn = quote_spanned!(inputs_fn.span()=> #inputs_fn);
        quote! {
            ::pipeline::__private::schedule(
                &mut __pipeline_builder,
                (#name, #cron, #tz, #missed),
                #inputs_fn,
            );
        }
    });
    let outputs = def.tail.names.iter().map(local);
    let extract = if def.tail.tuple {
        quote!(<#output as ::pipeline::__private::NodeInputs>::from_values)
    } else {
        quote!(::pipeline::__private::single::<#output>)
    };
    quote! {
        fn __pipeline_graph() -> ::pipeline::__private::Graph<#inputs, #output> {
            let mut __pipeline_builder = ::pipeline::__private::GraphBuilder::<#inputs>::new(#name_text);
            #(#input_handles)*
            #key
            #run_limit
            #fair
            #(#schedules)*
            #(#nodes)*
            ::pipeline::__private::build(
                __pipeline_builder,
                &[#(#outputs),*],
                #extract,
            )
        }
    }
}

/// The fingerprint, computed at compile time by the runtime's own const fns (the format lives
/// there once): inputs with their written types, then each node in order with its fn, arguments,
/// condition inputs, written output type and version.
fn fingerprint_const(def: &PipelineDef, plan: &Plan) -> TokenStream {
    let inputs = def.inputs.iter().map(|input| {
        let (name, ty) = (input.name.to_string(), type_text(&input.ty));
        quote!(.input(#name, #ty))
    });
    let nodes = plan.order.iter().map(|&i| {
        let s = &def.statements[i];
        let (id, func) = (s.binding.to_string(), node_type(def, s));
        let args = s.args.iter().enumerate().map(|(i, arg)| match &s.each {
            Some((each, _)) if *each == i => format!("each {arg}"),
            _ => arg.to_string(),
        });
        let condition = plan.condition_names[i].iter().map(ToString::to_string);
        if let Some(signal) = &s.signal {
            let (kind, ty) = match signal.timer_nanos {
                Some(_) => ("sleep", "()".to_owned()),
                None => ("signal", type_text(&signal.ty)),
            };
            return quote!(.node(#id, #kind, &[#(#args),*], &[#(#condition),*], #ty));
        }
        let method = match s.each {
            Some(_) => quote!(mapped_node),
            None => quote!(node),
        };
        quote! {
            .#method(
                #id,
                <#func as ::pipeline::__private::Node>::NAME,
                &[#(#args),*],
                &[#(#condition),*],
                <#func as ::pipeline::__private::Node>::OUTPUT_TYPE,
            )
            .version(<#func as ::pipeline::__private::Node>::VERSION)
        }
    });
    quote! {
        const __PIPELINE_FINGERPRINT: u64 = ::pipeline::__private::Fingerprint::new()
            #(#inputs)*
            #(#nodes)*
            .finish();
    }
}

fn node_handle(def: &PipelineDef, statement: &Statement, names: &[Ident]) -> TokenStream {
    let (binding, func) = (&statement.binding, node_type(def, statement));
    let id = binding.to_string();
    let local_binding = local(binding);
    let args = statement.args.iter().map(local);
    let gate = match &statement.condition {
        None => quote!(::core::option::Option::None),
        Some(condition) => {
            let locals = names.iter().map(local);
            let types = names.iter().map(|n| type_of(def, n));
            let bool_type = quote_spanned!(condition.span()=> bool);
            let open = quote!(let __pipeline_open: #bool_type = #condition;);
            quote! {
                ::core::option::Option::Some((
                    &[#(#locals),*],
                    ::pipeline::__private::gate(|__pipeline_values| {
                        let (#(#names,)*) = <(#(#types,)*) as ::pipeline::__private::NodeInputs>
                            ::from_values(__pipeline_values)?;
                        #open
                        ::core::option::Option::Some(__pipeline_open)
                    }),
                ))
            }
        }
    };
    if let Some(signal) = &statement.signal {
        let inputs = format_ident!("{}Inputs", def.name);
        let wiring =
            super::signals::wiring(signal, &inputs, &id, statement.args.iter().map(local), gate);
        return quote!(let #local_binding = #wiring;);
    }
    if let Some((each, _)) = &statement.each {
        let add =
            quote_spanned!(func.span()=> <#func as ::pipeline::__private::NodeWiring>::add_each_to);
        return quote! {
            let #local_binding = #add(
                &mut __pipeline_builder,
                #id,
                &[#(#args),*],
                #each,
                #gate,
            );
        };
    }
    let add = quote_spanned!(func.span()=> <#func as ::pipeline::__private::NodeWiring>::add_to);
    quote! {
        let #local_binding = #add(
            &mut __pipeline_builder,
            #id,
            &[#(#args),*],
            #gate,
        );
    }
}

/// A never-run copy of the pipeline that calls each node's typed signature with the user's own
/// tokens, so the compiler checks every edge and reports mistakes at them.
fn shadow(def: &PipelineDef, order: &[usize]) -> TokenStream {
    let params = def.inputs.iter().map(|i| {
        let (n, ty) = (&i.name, &i.ty);
        quote!(#n: #ty)
    });
    let output = &def.output;
    let statements = order.iter().map(|&i| {
        let statement = &def.statements[i];
        let (binding, func) = (&statement.binding, node_type(def, statement));
        if let Some(signal) = &statement.signal {
            return super::signals::shadow(binding, signal);
        }
        let item = quote!(__pipeline_item);
        let args = statement
            .args
            .iter()
            .enumerate()
            .map(|(i, arg)| match &statement.each {
                // The item, spanned on the list's name: a type mismatch points there.
                Some((each, _)) if *each == i => {
                    let item = Ident::new("__pipeline_item", arg.span());
                    quote!(#item)
                }
                _ => quote_spanned!(arg.span()=> #arg.__pipeline_copy()),
            });
        let call = quote_spanned!(statement.args_span=> (#(#args),*));
        let callee = quote_spanned!(func.span()=> <#func>::__pipeline_shadow);
        match &statement.each {
            Some((each, _)) => {
                let list = &statement.args[*each];
                let shadow = quote_spanned!(list.span()=> ::pipeline::__private::each_shadow);
                let list = quote_spanned!(list.span()=> #list.__pipeline_copy());
                quote! {
                    let #binding = #shadow(#list, |#item| #callee #call);
                }
            }
            None => quote!(let #binding = #callee #call;),
        }
    });
    let names = &def.tail.names;
    let tail = if def.tail.tuple {
        quote_spanned!(def.tail.span=> (#(#names.__pipeline_copy(),)*))
    } else {
        quote_spanned!(def.tail.span=> #(#names)*)
    };
    quote! {
        #[allow(unused_variables, unreachable_code, dead_code, clippy::all)]
        fn __pipeline_shadow(#(#params),*) -> #output {
            use ::pipeline::__private::ShadowCopy as _;
            #(#statements)*
            #tail
        }
    }
}
