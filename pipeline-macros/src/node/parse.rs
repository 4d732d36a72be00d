//! The `#[node]` fn as a model that keeps the user's tokens for spans.

use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::ctxt::Ctxt;

/// A data parameter of a node: an edge of the graph.
pub struct Input {
    pub name: syn::Ident,
    pub ty: Type,
}

/// What the fn returns.
pub enum Output {
    /// `-> Result<T, E>` (by the last path segment): `T` is the output.
    Fallible(Type),
    /// Any other type: the output itself (`()` without a return type).
    Infallible(Type),
}

pub struct NodeFn {
    pub name: syn::Ident,
    pub is_async: bool,
    pub inputs: Vec<Input>,
    /// The position of the `NodeContext` parameter among all parameters, if any.
    pub ctx_position: Option<usize>,
    pub output: Output,
}

impl NodeFn {
    /// Reads the fn, recording every rule it breaks in `cx`.
    pub fn from_item(cx: &Ctxt, item: &ItemFn) -> NodeFn {
        let sig = &item.sig;
        check_signature(cx, sig);
        let mut inputs = Vec::new();
        let mut ctx_position = None;
        for (position, arg) in sig.inputs.iter().enumerate() {
            match arg {
                FnArg::Receiver(receiver) => cx.error_spanned_by(
                    receiver,
                    "`#[node]` cannot be used on a method: a node is a free fn whose inputs are \
                     pipeline values; move the body into a fn that takes them as parameters",
                ),
                FnArg::Typed(typed) => {
                    let Some(name) = param_name(cx, &typed.pat) else {
                        continue;
                    };
                    if is_context(&typed.ty) {
                        if ctx_position.replace(position).is_some() {
                            cx.error_spanned_by(
                                &typed.ty,
                                "a node takes at most one `NodeContext`",
                            );
                        }
                        continue;
                    }
                    check_input_type(cx, &typed.ty);
                    inputs.push(Input {
                        name,
                        ty: (*typed.ty).clone(),
                    });
                }
            }
        }
        NodeFn {
            name: sig.ident.clone(),
            is_async: sig.asyncness.is_some(),
            inputs,
            ctx_position,
            output: output(&sig.output),
        }
    }
}

fn check_signature(cx: &Ctxt, sig: &syn::Signature) {
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        cx.error_spanned_by(
            &sig.generics,
            "`#[node]` fns cannot be generic: every node's input and output types must be known \
             when the pipeline is compiled, so its checkpoints can be decoded",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        cx.error_spanned_by(unsafety, "`#[node]` fns cannot be `unsafe`");
    }
    if let Some(variadic) = &sig.variadic {
        cx.error_spanned_by(variadic, "`#[node]` fns cannot be variadic");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(abi, "`#[node]` fns cannot have an `extern` ABI");
    }
}

fn param_name(cx: &Ctxt, pat: &Pat) -> Option<syn::Ident> {
    match pat {
        Pat::Ident(ident) if ident.by_ref.is_none() && ident.subpat.is_none() => {
            Some(ident.ident.clone())
        }
        _ => {
            cx.error_spanned_by(
                pat,
                "`#[node]` parameters must be plain names (`orders: Vec<Order>`): the name is the \
                 input's name in the audit trail; destructure inside the body",
            );
            None
        }
    }
}

fn check_input_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Reference(reference) => cx.error_at(
            reference.and_token.span(),
            "node inputs cannot be references: each node receives its own clone of every value; \
             take the value (`T` instead of `&T`), or share big data as `Arc<T>`",
        ),
        Type::ImplTrait(_) => cx.error_spanned_by(
            ty,
            "node inputs cannot be `impl Trait`: name the concrete type so the value can be \
             checkpointed",
        ),
        _ => {}
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn is_context(ty: &Type) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == "NodeContext" && s.arguments.is_none())
}

fn output(ret: &ReturnType) -> Output {
    match ret {
        ReturnType::Default => Output::Infallible(syn::parse_quote!(())),
        ReturnType::Type(_, ty) => match last_segment(ty) {
            Some(segment) if segment.ident == "Result" => Output::Fallible((**ty).clone()),
            _ => Output::Infallible((**ty).clone()),
        },
    }
}

impl Output {
    /// The written output type for the registry: `T` of `Result<T, E>`, or the type itself.
    pub fn text(&self) -> String {
        match self {
            Output::Infallible(ty) => crate::text::type_text(ty),
            Output::Fallible(ty) => match last_segment(ty).map(|s| &s.arguments) {
                Some(syn::PathArguments::AngleBracketed(args)) => match args.args.first() {
                    Some(syn::GenericArgument::Type(ok)) => crate::text::type_text(ok),
                    _ => crate::text::type_text(ty),
                },
                _ => crate::text::type_text(ty),
            },
        }
    }
}
