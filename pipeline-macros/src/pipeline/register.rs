//! The registration of a pipeline in the binary's registry (`pipeline::registry::pipelines()`):
//! its name, docs, source location, inputs, nodes, edges and compile-time fingerprint.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Type;

use super::ast::PipelineDef;
use super::check::Plan;
use crate::text::{doc_text, type_text};

pub fn register(def: &PipelineDef, plan: &Plan) -> TokenStream {
    let name = &def.name;
    let name_text = name.to_string();
    let doc = doc_text(&def.attrs);
    let inputs = def.inputs.iter().map(|i| {
        let (n, t) = (i.name.to_string(), type_text(&i.ty));
        quote!(::pipeline::__private::Param { name: #n, type_name: #t })
    });
    let nodes = plan.order.iter().map(|&i| {
        let s = &def.statements[i];
        let id = s.binding.to_string();
        let kind = type_text(&Type::Path(syn::TypePath {
            qself: None,
            path: s.func.clone(),
        }));
        quote!(::pipeline::__private::Binding { id: #id, kind: #kind })
    });
    let edges = plan.order.iter().flat_map(|&i| {
        let to = def.statements[i].binding.to_string();
        plan.sources[i].iter().map(move |from| quote!((#from, #to)))
    });
    let output = type_text(&def.output);
    let line = quote_spanned!(name.span()=> ::core::line!());
    quote! {
        ::pipeline::__private::inventory::submit! {
            ::pipeline::__private::PipelineInfo {
                name: #name_text,
                doc: #doc,
                module_path: ::core::module_path!(),
                file: ::core::file!(),
                line: #line,
                inputs: &[#(#inputs),*],
                output_type: #output,
                nodes: &[#(#nodes),*],
                edges: &[#(#edges),*],
                fingerprint: __PIPELINE_FINGERPRINT,
                pipeline: ::pipeline::__private::dyn_pipeline::<#name>,
            }
        }
    }
}
