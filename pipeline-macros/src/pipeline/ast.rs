//! The `pipeline!` input as a model that keeps the user's tokens for spans.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Path, Token, Type, Visibility};

pub struct Input {
    pub name: Ident,
    pub ty: Type,
}

pub struct Statement {
    pub binding: Ident,
    /// The `#[node]` fn called, as written (`load`, `crate::io::load`).
    pub func: Path,
    pub args: Vec<Ident>,
    /// The parenthesized argument list, for arity errors.
    pub args_span: Span,
    pub condition: Option<Expr>,
}

pub struct Tail {
    pub names: Vec<Ident>,
    pub tuple: bool,
    pub span: Span,
}

pub struct PipelineDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub inputs: Vec<Input>,
    pub output: Type,
    pub statements: Vec<Statement>,
    pub tail: Tail,
    /// Mistakes found while parsing that did not stop it (reported with the checks' errors).
    pub parse_errors: Vec<syn::Error>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        input.parse::<Token![:]>()?;
        Ok(Input {
            name,
            ty: input.parse()?,
        })
    }
}

impl Parse for PipelineDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let name = input.parse()?;
        let content;
        syn::parenthesized!(content in input);
        let inputs = Punctuated::<Input, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect();
        input.parse::<Token![->]>()?;
        let output = input.parse()?;
        let body;
        syn::braced!(body in input);
        let mut parse_errors = Vec::new();
        let mut statements = Vec::new();
        while body.peek(Ident) && body.peek2(Token![=]) && !body.peek2(Token![==]) {
            statements.push(Statement::parse(&body, &mut parse_errors)?);
        }
        let tail = Tail::parse(&body)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the pipeline's body"));
        }
        Ok(PipelineDef {
            attrs,
            vis,
            name,
            inputs,
            output,
            statements,
            tail,
            parse_errors,
        })
    }
}

impl Statement {
    fn parse(input: ParseStream, errors: &mut Vec<syn::Error>) -> syn::Result<Self> {
        let binding = input.parse()?;
        input.parse::<Token![=]>()?;
        let func = Path::parse_mod_style(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a call of a `#[node]` fn: `binding = node_fn(input_or_binding, ...);`",
            )
        })?;
        let content;
        let parens = syn::parenthesized!(content in input);
        let args = Punctuated::<Expr, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .filter_map(|arg| match &arg {
                Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
                    match path.path.get_ident() {
                        Some(ident) => Some(ident.clone()),
                        None => {
                            errors.push(not_a_name(&arg));
                            None
                        }
                    }
                }
                _ => {
                    errors.push(not_a_name(&arg));
                    None
                }
            })
            .collect();
        let condition = if input.peek(Token![if]) {
            input.parse::<Token![if]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        input.parse::<Token![;]>()?;
        Ok(Statement {
            binding,
            func,
            args,
            args_span: parens.span.join(),
            condition,
        })
    }
}

fn not_a_name(arg: &Expr) -> syn::Error {
    syn::Error::new(
        arg.span(),
        "node arguments must be names of pipeline inputs or bindings; compute other values in a \
         node of their own",
    )
}

impl Tail {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        const EXPECTED: &str =
            "expected the pipeline's output as the last line: a binding, or a tuple of bindings";
        let (names, tuple, span) = if input.peek(syn::token::Paren) {
            let content;
            let parens = syn::parenthesized!(content in input);
            let names = Punctuated::<Ident, Token![,]>::parse_terminated(&content)
                .map_err(|e| syn::Error::new(e.span(), EXPECTED))?;
            (names.into_iter().collect(), true, parens.span.join())
        } else if input.peek(Ident) {
            let name: Ident = input.parse()?;
            let span = name.span();
            (vec![name], false, span)
        } else {
            return Err(input.error(EXPECTED));
        };
        let _ = input.parse::<Option<Token![;]>>()?;
        if !input.is_empty() {
            return Err(input.error(
                "unexpected tokens after the pipeline's output; statements are \
                 `binding = node_fn(args);` and the output comes last",
            ));
        }
        Ok(Tail { names, tuple, span })
    }
}
