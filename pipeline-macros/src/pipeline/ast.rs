//! The `pipeline!` input as a model that keeps the user's tokens for spans.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Path, Token, Type, Visibility};

use super::attrs::{Idempotent, PipelineAttrs, RunLimit, ScheduleAttr};
use super::signal::{self, SignalSpec};

pub struct Input {
    pub name: Ident,
    pub ty: Type,
}

pub struct Statement {
    pub binding: Ident,
    /// The `#[node]` fn called, as written (`load`, `crate::io::load`).
    pub func: Path,
    pub args: Vec<Ident>,
    /// The argument marked `each` (the node runs once per item of it), with the keyword.
    pub each: Option<(usize, Ident)>,
    /// For a wait (`signal::<T>(after...)`), its payload type and timeout; `func` is then the
    /// path `signal` and `args` the names it comes after.
    pub signal: Option<SignalSpec>,
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
    /// The attributes passed on to the pipeline struct (its docs, derives).
    pub attrs: Vec<Attribute>,
    /// `#[idempotent(...)]`, when given.
    pub idempotent: Option<Idempotent>,
    /// `#[limit(...)]`, when given.
    pub run_limit: Option<RunLimit>,
    /// Each `#[schedule(...)]`.
    pub schedules: Vec<ScheduleAttr>,
    /// `#[fair(key = ...)]`, when given: the key runs take turns by.
    pub fair: Option<Idempotent>,
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
        let mut attrs = input.call(Attribute::parse_outer)?;
        let mut parse_errors = Vec::new();
        let PipelineAttrs {
            idempotent,
            run_limit,
            schedules,
            fair,
        } = PipelineAttrs::take(&mut attrs, &mut parse_errors);
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
            idempotent,
            run_limit,
            schedules,
            fair,
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
        if signal::peek(input) || signal::peek_timer(input) {
            return Self::parse_signal(input, binding, errors);
        }
        let func = Path::parse_mod_style(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a call of a `#[node]` fn: `binding = node_fn(input_or_binding, ...);`",
            )
        })?;
        let content;
        let parens = syn::parenthesized!(content in input);
        let mut each: Option<(usize, Ident)> = None;
        let mut args = Vec::new();
        for arg in Punctuated::<Arg, Token![,]>::parse_terminated(&content)? {
            let Some(name) = name_of(&arg.expr) else {
                errors.push(not_a_name(&arg.expr));
                continue;
            };
            if let Some(keyword) = arg.each {
                match &each {
                    Some((first, _)) => errors.push(syn::Error::new(
                        keyword.span(),
                        format!(
                            "`each` marks one argument, and `{}` is marked already: a node maps \
                             over one list; pair the lists up in a node of their own (e.g. a \
                             `Vec<(A, B)>`) and map over that",
                            args[*first]
                        ),
                    )),
                    None => each = Some((args.len(), keyword)),
                }
            }
            args.push(name);
        }
        let condition = condition_and_end(input, errors)?;
        Ok(Statement {
            binding,
            func,
            args,
            each,
            signal: None,
            args_span: parens.span.join(),
            condition,
        })
    }

    fn parse_signal(
        input: ParseStream,
        binding: Ident,
        errors: &mut Vec<syn::Error>,
    ) -> syn::Result<Self> {
        let (spec, after, args_span) = match signal::peek(input) {
            true => signal::parse(input, errors)?,
            false => signal::parse_timer(input, errors)?,
        };
        let mut args = Vec::new();
        for expr in after {
            match name_of(&expr) {
                Some(name) => args.push(name),
                None => errors.push(not_a_name(&expr)),
            }
        }
        let condition = condition_and_end(input, errors)?;
        Ok(Statement {
            binding,
            func: Path::from(spec.keyword.clone()),
            args,
            each: None,
            signal: Some(spec),
            args_span,
            condition,
        })
    }
}

/// A node argument as written: a name, optionally marked `each`.
struct Arg {
    each: Option<Ident>,
    expr: Expr,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let marked = input.peek(Ident)
            && input.peek2(Ident)
            && input.fork().parse::<Ident>().is_ok_and(|i| i == "each");
        Ok(Arg {
            each: marked.then(|| input.parse()).transpose()?,
            expr: input.parse()?,
        })
    }
}

fn name_of(arg: &Expr) -> Option<Ident> {
    match arg {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.get_ident().cloned()
        }
        _ => None,
    }
}

/// A statement's optional `if condition`, and its closing `;`.
fn condition_and_end(
    input: ParseStream,
    errors: &mut Vec<syn::Error>,
) -> syn::Result<Option<Expr>> {
    let condition = match input.peek(Token![if]) {
        true => {
            input.parse::<Token![if]>()?;
            condition(input, errors)?
        }
        false => None,
    };
    input.parse::<Token![;]>()?;
    Ok(condition)
}

/// A statement's condition, up to its `;`. `each` there is an error (a condition gates the
/// whole map), reported at the keyword; the condition is then left out.
fn condition(input: ParseStream, errors: &mut Vec<syn::Error>) -> syn::Result<Option<Expr>> {
    let tokens: proc_macro2::TokenStream = input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = proc_macro2::TokenStream::new();
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ';') {
                break;
            }
            tokens.extend([tt]);
            rest = next;
        }
        Ok((tokens, rest))
    })?;
    if let Some((keyword, name)) = find_each(tokens.clone()) {
        errors.push(syn::Error::new(
            keyword.span(),
            format!(
                "`each` cannot be used in a condition: a condition gates the whole map; read \
                 `{name}` whole (e.g. `if !{name}.is_empty()`), or let a mapped node decide per item"
            ),
        ));
        return Ok(None);
    }
    syn::parse2(tokens).map(Some)
}

/// The first `each NAME` in `tokens`, at any depth.
fn find_each(tokens: proc_macro2::TokenStream) -> Option<(Ident, Ident)> {
    let mut keyword: Option<Ident> = None;
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(ident) => match keyword.take() {
                Some(each) => return Some((each, ident)),
                None if ident == "each" => keyword = Some(ident),
                None => {}
            },
            proc_macro2::TokenTree::Group(group) => {
                keyword = None;
                if let Some(found) = find_each(group.stream()) {
                    return Some(found);
                }
            }
            _ => keyword = None,
        }
    }
    None
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
