//! `pipeline!`: parse into a model, check it rule by rule, then generate.

mod ast;
mod attrs;
mod check;
mod expand;
mod items;
mod names;
mod register;
mod signal;
mod signals;

use proc_macro2::TokenStream;

use crate::ctxt::Ctxt;

pub fn expand(input: TokenStream) -> TokenStream {
    let def: ast::PipelineDef = match syn::parse2(input) {
        Ok(def) => def,
        Err(error) => return error.to_compile_error(),
    };
    let cx = Ctxt::new();
    for error in &def.parse_errors {
        cx.push(error.clone());
    }
    let plan = check::all(&cx, &def);
    match (cx.check(), plan) {
        (Ok(()), Some(plan)) => {
            let expansion = expand::pipeline(&def, &plan);
            crate::debug::maybe_print(&def.name.to_string(), &expansion);
            expansion
        }
        (Err(error), _) => {
            let mut stubs = expand::stubs(&def);
            stubs.extend(error.to_compile_error());
            stubs
        }
        (Ok(()), None) => expand::stubs(&def),
    }
}
