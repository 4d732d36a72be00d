//! The public items `pipeline!` generates: the pipeline struct, its inputs struct, and its typed
//! checkpoint struct.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Type;
use syn::spanned::Spanned;

use super::ast::PipelineDef;
use super::names::{Names, binding_type, names, node_type};
use crate::text::{doc_text, type_text};

/// The public items: the pipeline struct, its inputs, and its typed checkpoint. With `complete`
/// false (the pipeline has errors) the checkpoint has only the inputs.
pub(super) fn items(def: &PipelineDef, complete: bool) -> TokenStream {
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
        // A node's output is serialized through its `Node` impl, which carries the `Data` bound:
        // a non-serializable output is then one error, at the node's return type.
        let serde = match (&s.signal, &s.each) {
            (Some(_), _) => quote!(),
            (None, each) => {
                let alias = node_type(def, s).to_string();
                let suffix = if each.is_some() { "outputs" } else { "output" };
                let ser = format!("::pipeline::__private::serialize_{suffix}::<{alias}, _>");
                let de = format!("::pipeline::__private::deserialize_{suffix}::<{alias}, _>");
                quote!(#[serde(default, serialize_with = #ser, deserialize_with = #de)])
            }
        };
        quote!(#[doc = #doc] #serde pub #n: ::core::option::Option<#ty>,)
    });
    let inputs_doc = format!(" The inputs of the [`{name}`] pipeline.");
    let checkpoint_doc = format!(
        " The typed checkpoint of a run of [`{name}`]: its inputs, and the recorded output of each \
         node (`None` until the node has completed)."
    );
    // Users need not depend on serde: the derives go through the runtime's re-export. The
    // checkpoint's `Clone` is written out (below), so that it clones node outputs through their
    // `Node` impls, as serde does.
    let serde = quote! {
        ::core::fmt::Debug,
        ::pipeline::__private::serde::Serialize,
        ::pipeline::__private::serde::Deserialize,
    };
    let data = quote! {
        #[derive(::core::clone::Clone, #serde)]
        #[serde(crate = "::pipeline::__private::serde")]
    };
    let input_names: Vec<&syn::Ident> = def.inputs.iter().map(|i| &i.name).collect();
    let binding_clones = def.statements.iter().filter(|_| complete).map(|s| {
        let n = &s.binding;
        match (&s.signal, &s.each) {
            // Spanned at the payload's type: a payload without `Clone` is reported there.
            (Some(signal), _) => {
                let ty = &signal.ty;
                quote_spanned!(ty.span()=> #n: ::core::clone::Clone::clone(&self.#n),)
            }
            (None, each) => {
                let alias = node_type(def, s);
                match each {
                    Some(_) => {
                        quote!(#n: ::pipeline::__private::clone_outputs::<#alias>(&self.#n),)
                    }
                    None => quote!(#n: ::pipeline::__private::clone_output::<#alias>(&self.#n),),
                }
            }
        }
    });
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
        #[derive(#serde)]
        #[serde(crate = "::pipeline::__private::serde")]
        #vis struct #checkpoint {
            #(#input_fields)*
            #(#binding_fields)*
        }

        #[automatically_derived]
        #[allow(clippy::clone_on_copy)]
        impl ::core::clone::Clone for #checkpoint {
            fn clone(&self) -> Self {
                #checkpoint {
                    #(#input_names: ::core::clone::Clone::clone(&self.#input_names),)*
                    #(#binding_clones)*
                }
            }
        }
    }
}
