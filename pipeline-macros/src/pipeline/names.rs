//! How `pipeline!`'s generated code names things: the generated structs, the locals of the
//! graph fn, and the type aliases of the statements' nodes with the types they imply.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::ast::{PipelineDef, Statement};

pub(super) struct Names {
    pub name: Ident,
    pub inputs: Ident,
    pub checkpoint: Ident,
}

pub(super) fn names(def: &PipelineDef) -> Names {
    Names {
        name: def.name.clone(),
        inputs: format_ident!("{}Inputs", def.name),
        checkpoint: format_ident!("{}Checkpoint", def.name),
    }
}

pub(super) fn local(name: &Ident) -> Ident {
    format_ident!("__pipeline_{}", name)
}

/// The alias the expansion names a statement's node type by (`type __PipelineSales_orders =
/// load;`), spanned at the user's fn name: a misspelt or missing node is then one error there,
/// not one per use.
pub(super) fn node_type(def: &PipelineDef, statement: &Statement) -> Ident {
    let name = format!("__Pipeline{}_{}", def.name, statement.binding);
    Ident::new(&name, statement.func.span())
}

/// The node type aliases of `def`'s statements (not of its waits).
pub(super) fn node_types(def: &PipelineDef) -> TokenStream {
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
pub(super) fn binding_type(def: &PipelineDef, statement: &Statement) -> TokenStream {
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
pub(super) fn type_of(def: &PipelineDef, name: &Ident) -> TokenStream {
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
