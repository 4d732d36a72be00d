//! Collects the errors of one macro invocation so that all of them are reported together.

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

/// The fn an attribute macro is on, or, when `item` is no fn, the item back with an error
/// saying what the attribute goes on.
pub fn item_fn(
    item: proc_macro2::TokenStream,
    goes_on: &str,
) -> Result<syn::ItemFn, proc_macro2::TokenStream> {
    syn::parse2(item.clone()).map_err(|_| {
        let error = syn::Error::new_spanned(&item, goes_on).to_compile_error();
        quote::quote!(#item #error)
    })
}

/// Errors found while parsing and checking one invocation. Dropping it unchecked is a bug, caught
/// by a panic (as in serde_derive), so no error is ever silently lost.
pub struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub fn new() -> Self {
        Ctxt {
            errors: RefCell::new(Some(Vec::new())),
        }
    }

    /// Records an error spanning `tokens`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&self, tokens: T, message: M) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub fn error_at<M: Display>(&self, span: proc_macro2::Span, message: M) {
        self.push(syn::Error::new(span, message));
    }

    /// Records a parse error.
    pub fn push(&self, error: syn::Error) {
        if let Some(errors) = self.errors.borrow_mut().as_mut() {
            errors.push(error);
        }
    }

    /// Whether no error was recorded so far.
    pub fn is_ok(&self) -> bool {
        self.errors.borrow().as_ref().is_none_or(Vec::is_empty)
    }

    /// Ends collection: all errors combined into one, if any.
    pub fn check(self) -> Result<(), syn::Error> {
        let errors = self.errors.borrow_mut().take().unwrap_or_default();
        let mut errors = errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut first) => {
                for rest in errors {
                    first.combine(rest);
                }
                Err(first)
            }
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            panic!("pipeline-macros: forgot to check for errors");
        }
    }
}
