//! Code generation for `pipeline!`: no validation here (see `check`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, Type};

use super::ast::{PipelineDef, Statement};
use super::check::Plan;
use crate::text::{doc_text, type_text};

struct Names {
    name: Ident,
    inputs: Ident,
    checkpoint: Ident,
}

fn names(def: &PipelineDef) -> Names {
    Names {
        name: def.name.clone(),
        inputs: format_ident!("{}Inputs", def.name),
        checkpoint: format_ident!("{}Checkpoint", def.name),
    }
}

fn local(name: &Ident) -> Ident {
    format_ident!("__pipeline_{}", name)
}

/// The alias the expansion names a statement's node type by (`type __PipelineSales_orders =
/// load;`), spanned at the user's fn name: a misspelt or missing node is then one error there,
/// not one per use.
fn node_type(def: &PipelineDef, statement: &Statement) -> Ident {
    let name = format!("__Pipeline{}_{}", def.name, statement.binding);
    Ident::new(&name, statement.func.span())
}

/// The node type aliases of `def`'s statements (not of its waits).
fn node_types(def: &PipelineDef) -> TokenStream {
    let aliases = def
        .statements
        .iter()
        .filter(|s| s.signal.is_none())
        .map(|s| {
            let (alias, func) = (node_type(def, s), &s.func);
            quote! {
                #[doc(hidden)]
                #[allow(non_camel_case_types)]
                type #alias = #func;
            }
        });
    quote!(#(#aliases)*)
}

fn node_output(node: &Ident) -> TokenStream {
    quote_spanned!(node.span()=> <#node as ::pipeline::__private::Node>::Output)
}

/// The type of a binding: the node's output, or the `Vec` of them for a node mapped with `each`.
fn binding_type(def: &PipelineDef, statement: &Statement) -> TokenStream {
    if let Some(signal) = &statement.signal {
        let ty = &signal.ty;
        return quote!(#ty);
    }
    let output = node_output(&node_type(def, statement));
    match statement.each {
        Some(_) => quote!(::std::vec::Vec<#output>),
        None => output,
    }
}

/// The Rust type of an input or binding.
fn type_of(def: &PipelineDef, name: &Ident) -> TokenStream {
    match def.inputs.iter().find(|i| i.name == *name) {
        Some(input) => {
            let ty = &input.ty;
            quote!(#ty)
        }
        None => match def.statements.iter().find(|s| s.binding == *name) {
            Some(statement) => binding_type(def, statement),
            None => quote!(()),
        },
    }
}

pub fn pipeline(def: &PipelineDef, plan: &Plan) -> TokenStream {
    let Names {
        inputs, checkpoint, ..
    } = names(def);
    let output = &def.output;
    let items = items(def, true);
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

/// The public items: the pipeline struct, its inputs, and its typed checkpoint. With `complete`
/// false (the pipeline has errors) the checkpoint has only the inputs.
fn items(def: &PipelineDef, complete: bool) -> TokenStream {
    let Names {
        name,
        inputs,
        checkpoint,
    } = names(def);
    let vis = &def.vis;
    let attrs = &def.attrs;
    let default_doc = if doc_text(attrs).is_empty() {
        let text = format!(" The `{name}` pipeline.");
        quote!(#[doc = #text])
    } else {
        quote!()
    };
    let input_fields: Vec<TokenStream> = def
        .inputs
        .iter()
        .map(|i| {
            let (n, ty) = (&i.name, &i.ty);
            let doc = format!(" The pipeline input `{n}`.");
            quote!(#[doc = #doc] pub #n: #ty,)
        })
        .collect();
    let binding_fields = def.statements.iter().filter(|_| complete).map(|s| {
        let (n, ty) = (&s.binding, binding_type(def, s));
        let func = type_text(&Type::Path(syn::TypePath {
            qself: None,
            path: s.func.clone(),
        }));
        let doc = match &s.signal {
            Some(_) => format!(" The payload of the wait `{n}`, once it ended."),
            None => format!(" The output of node `{n}` (`{func}`), once it has completed."),
        };
        quote!(#[doc = #doc] pub #n: ::core::option::Option<#ty>,)
    });
    let inputs_doc = format!(" The inputs of the [`{name}`] pipeline.");
    let checkpoint_doc = format!(
        " The typed checkpoint of a run of [`{name}`]: its inputs, and the recorded output of each \
         node (`None` until the node has completed)."
    );
    // Users need not depend on serde: the derives go through the runtime's re-export.
    let data = quote! {
        #[derive(
            ::core::clone::Clone,
            ::core::fmt::Debug,
            ::pipeline::__private::serde::Serialize,
            ::pipeline::__private::serde::Deserialize,
        )]
        #[serde(crate = "::pipeline::__private::serde")]
    };
    quote! {
        #(#attrs)*
        #default_doc
        #[derive(::core::clone::Clone, ::core::marker::Copy, ::core::fmt::Debug, ::core::default::Default)]
        #vis struct #name;

        #[doc = #inputs_doc]
        #data
        #vis struct #inputs {
            #(#input_fields)*
        }

        #[doc = #checkpoint_doc]
        #data
        #vis struct #checkpoint {
            #(#input_fields)*
            #(#binding_fields)*
        }
    }
}

/// The items of a pipeline with errors, so that its uses add no errors of their own.
pub fn stubs(def: &PipelineDef) -> TokenStream {
    let checkpoint = &names(def).checkpoint;
    let items = items(def, false);
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
                _ => quote_spanned!(arg.span()=> #arg.clone()),
            });
        let call = quote_spanned!(statement.args_span=> (#(#args),*));
        let callee = quote_spanned!(func.span()=> <#func>::__pipeline_shadow);
        match &statement.each {
            Some((each, _)) => {
                let list = &statement.args[*each];
                let shadow = quote_spanned!(list.span()=> ::pipeline::__private::each_shadow);
                let list = quote_spanned!(list.span()=> #list.clone());
                quote! {
                    let #binding = #shadow(#list, |#item| #callee #call);
                }
            }
            None => quote!(let #binding = #callee #call;),
        }
    });
    let names = &def.tail.names;
    let tail = if def.tail.tuple {
        quote_spanned!(def.tail.span=> (#(#names.clone(),)*))
    } else {
        quote_spanned!(def.tail.span=> #(#names)*)
    };
    quote! {
        #[allow(unused_variables, unreachable_code, dead_code, clippy::all)]
        fn __pipeline_shadow(#(#params),*) -> #output {
            #(#statements)*
            #tail
        }
    }
}
