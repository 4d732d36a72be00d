//! `PIPELINE_MACROS_DEBUG=<name>` prints the formatted expansion of the pipeline or node `name`.

use proc_macro2::TokenStream;

pub fn maybe_print(name: &str, expansion: &TokenStream) {
    let Ok(wanted) = std::env::var("PIPELINE_MACROS_DEBUG") else {
        return;
    };
    if wanted != name {
        return;
    }
    match syn::parse2::<syn::File>(expansion.clone()) {
        Ok(file) => eprintln!("// expansion of `{name}`\n{}", prettyplease::unparse(&file)),
        Err(_) => eprintln!("// expansion of `{name}` (unformatted)\n{expansion}"),
    }
}
