//! The attributes of a `pipeline!` that are the runtime's: `#[idempotent]`, `#[limit]`,
//! `#[fair]` and `#[schedule]`, parsed with their mistakes kept for the checks' report.

use proc_macro2::Span;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, Ident, Path, Token};

/// `#[idempotent(key = customer)]` or `#[idempotent(key = (customer, day))]`: the inputs whose
/// values make the pipeline's idempotency key.
pub struct Idempotent {
    pub key: Vec<Ident>,
}

/// `#[limit(key = customer, runs = 2)]`: at most `runs` runs at once per value of the key.
pub struct RunLimit {
    pub key: Vec<Ident>,
    pub runs: u32,
}

/// `#[schedule(cron = "0 3 * * *", tz = "Europe/Paris", inputs = nightly)]`, with an optional
/// `name = "..."` (the inputs fn's name otherwise) and `missed = skip` or
/// `missed = catch_up(N)`.
pub struct ScheduleAttr {
    pub name: String,
    /// What the name is reported on: `name = "..."`, or the inputs fn.
    pub name_span: Span,
    pub cron: syn::LitStr,
    pub tz: Option<syn::LitStr>,
    pub inputs: Path,
    /// `None`: the default policy; `Some(0)`: skip; `Some(n)`: catch up `n`.
    pub missed: Option<u32>,
}

impl ScheduleAttr {
    fn parse(attr: &Attribute) -> syn::Result<ScheduleAttr> {
        let (mut name, mut cron, mut tz, mut inputs, mut missed) = (None, None, None, None, None);
        attr.parse_nested_meta(|meta| {
            let value = || meta.value();
            if meta.path.is_ident("cron") {
                cron = Some(value()?.parse::<syn::LitStr>()?);
            } else if meta.path.is_ident("tz") {
                tz = Some(value()?.parse::<syn::LitStr>()?);
            } else if meta.path.is_ident("name") {
                name = Some(value()?.parse::<syn::LitStr>()?);
            } else if meta.path.is_ident("inputs") {
                inputs = Some(value()?.parse::<Path>()?);
            } else if meta.path.is_ident("missed") {
                missed = Some(parse_missed(&value()?.parse::<Expr>()?)?);
            } else {
                return Err(meta.error(
                    "`#[schedule]` takes `cron = \"...\"`, `tz = \"...\"`, `inputs = fn`, \
                     `name = \"...\"` and `missed = skip` or `missed = catch_up(N)`",
                ));
            }
            Ok(())
        })?;
        let (Some(cron), Some(inputs)) = (cron, inputs) else {
            return Err(syn::Error::new_spanned(
                attr,
                "`#[schedule]` needs `cron = \"...\"` and `inputs = fn` (a `fn(&Tick) -> Inputs`), \
                 e.g. `#[schedule(cron = \"0 3 * * *\", tz = \"Europe/Paris\", inputs = nightly)]`",
            ));
        };
        check_cron(&cron)?;
        let (name, name_span) = match name {
            Some(lit) => (lit.value(), lit.span()),
            None => match inputs.segments.last() {
                Some(last) => (last.ident.to_string(), inputs.span()),
                None => return Err(syn::Error::new_spanned(&inputs, "an empty path")),
            },
        };
        Ok(ScheduleAttr {
            name,
            name_span,
            cron,
            tz,
            inputs,
            missed,
        })
    }
}

/// `skip` or `catch_up(N)`.
fn parse_missed(expr: &Expr) -> syn::Result<u32> {
    let wrong = || {
        syn::Error::new_spanned(
            expr,
            "`missed` is `skip` or `catch_up(N)`: what to do with ticks no scheduler was up for",
        )
    };
    match expr {
        Expr::Path(p) if p.path.is_ident("skip") => Ok(0),
        Expr::Call(call) => match (&*call.func, call.args.first(), call.args.len()) {
            (Expr::Path(f), Some(Expr::Lit(lit)), 1) if f.path.is_ident("catch_up") => {
                match &lit.lit {
                    syn::Lit::Int(n) => n.base10_parse::<u32>(),
                    _ => Err(wrong()),
                }
            }
            _ => Err(wrong()),
        },
        _ => Err(wrong()),
    }
}

/// The shape of a cron expression, checked where it is written (its values are checked when a
/// scheduler takes the pipeline): five fields as in crontab, six with seconds, seven with a
/// year, or a shorthand.
fn check_cron(cron: &syn::LitStr) -> syn::Result<()> {
    let text = cron.value();
    let shorthands = ["@hourly", "@daily", "@weekly", "@monthly", "@yearly"];
    if text.trim().starts_with('@') {
        return match shorthands.contains(&text.trim()) {
            true => Ok(()),
            false => Err(syn::Error::new(
                cron.span(),
                format!("`{text}` is not one of {}", shorthands.join(", ")),
            )),
        };
    }
    let fields = text.split_whitespace().count();
    if !(5..=7).contains(&fields) {
        return Err(syn::Error::new(
            cron.span(),
            format!(
                "a cron expression has 5 fields (minute hour day month weekday), 6 with seconds \
                 first, or 7 with a year last; `{text}` has {fields}"
            ),
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '-' | '/' | '?');
    if let Some(c) = text.chars().find(|c| !c.is_whitespace() && !allowed(*c)) {
        return Err(syn::Error::new(
            cron.span(),
            format!("`{c}` has no meaning in a cron expression"),
        ));
    }
    Ok(())
}

/// `key = input` or `key = (input, ...)`, after `key`.
fn key_names(meta: &syn::meta::ParseNestedMeta) -> syn::Result<Vec<Ident>> {
    let value = meta.value()?;
    let names: Vec<Ident> = if value.peek(syn::token::Paren) {
        let content;
        syn::parenthesized!(content in value);
        Punctuated::<Ident, Token![,]>::parse_terminated(&content)?
            .into_iter()
            .collect()
    } else {
        vec![value.parse::<Ident>()?]
    };
    if names.is_empty() {
        return Err(meta.error("`key = ()` names no input"));
    }
    Ok(names)
}

impl Idempotent {
    /// `#[idempotent(key = ...)]`, or `#[fair(key = ...)]` (`what` names it in errors).
    fn parse(attr: &Attribute, what: &str) -> syn::Result<Idempotent> {
        let mut key = None;
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("key") {
                return Err(meta.error(format!(
                    "`#[{what}]` takes `key = input` or `key = (input, ...)`"
                )));
            }
            key = Some(key_names(&meta)?);
            Ok(())
        })?;
        match key {
            Some(key) => Ok(Idempotent { key }),
            None => Err(syn::Error::new_spanned(
                attr,
                format!("`#[{what}]` needs `key = input` or `key = (input, ...)`"),
            )),
        }
    }
}

impl RunLimit {
    fn parse(attr: &Attribute) -> syn::Result<RunLimit> {
        let (mut key, mut runs) = (None, None);
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("key") {
                key = Some(key_names(&meta)?);
            } else if meta.path.is_ident("runs") {
                let n: syn::LitInt = meta.value()?.parse()?;
                match n.base10_parse::<u32>() {
                    Ok(n) if n >= 1 => runs = Some(n),
                    _ => {
                        return Err(syn::Error::new(
                            n.span(),
                            "`runs` is a whole number of at least 1",
                        ));
                    }
                }
            } else {
                return Err(
                    meta.error("`#[limit]` takes `key = input` (or `(input, ...)`) and `runs = N`")
                );
            }
            Ok(())
        })?;
        match (key, runs) {
            (Some(key), Some(runs)) => Ok(RunLimit { key, runs }),
            _ => Err(syn::Error::new_spanned(
                attr,
                "`#[limit]` needs `key = input` (or `(input, ...)`) and `runs = N`, e.g. `#[limit(key = customer, runs = 2)]`",
            )),
        }
    }
}

/// A pipeline's own attributes, taken out of the ones passed on to its struct.
pub struct PipelineAttrs {
    pub idempotent: Option<Idempotent>,
    pub run_limit: Option<RunLimit>,
    pub schedules: Vec<ScheduleAttr>,
    pub fair: Option<Idempotent>,
}

impl PipelineAttrs {
    /// Takes the pipeline's own attributes out of `attrs`; their mistakes go to `parse_errors`.
    pub fn take(attrs: &mut Vec<Attribute>, parse_errors: &mut Vec<syn::Error>) -> PipelineAttrs {
        let mut idempotent = None;
        let mut run_limit = None;
        let mut schedules: Vec<ScheduleAttr> = Vec::new();
        let mut fair = None;
        let ours = |a: &Attribute| {
            ["idempotent", "limit", "schedule", "fair"]
                .iter()
                .any(|name| a.path().is_ident(name))
        };
        for attr in attrs.extract_if(.., |a| ours(a)) {
            let twice = || syn::Error::new_spanned(&attr, "this attribute is given twice");
            if attr.path().is_ident("schedule") {
                match ScheduleAttr::parse(&attr) {
                    Ok(parsed) if schedules.iter().any(|s| s.name == parsed.name) => {
                        parse_errors.push(syn::Error::new(
                            parsed.name_span,
                            format!(
                                "a second schedule named `{}`: give each a `name = \"...\"`",
                                parsed.name
                            ),
                        ));
                    }
                    Ok(parsed) => schedules.push(parsed),
                    Err(e) => parse_errors.push(e),
                }
                continue;
            }
            if attr.path().is_ident("fair") {
                match (Idempotent::parse(&attr, "fair"), &fair) {
                    (Ok(_), Some(_)) => parse_errors.push(twice()),
                    (Ok(parsed), None) => fair = Some(parsed),
                    (Err(e), _) => parse_errors.push(e),
                }
                continue;
            }
            match attr.path().is_ident("idempotent") {
                true => match (Idempotent::parse(&attr, "idempotent"), &idempotent) {
                    (Ok(_), Some(_)) => parse_errors.push(twice()),
                    (Ok(parsed), None) => idempotent = Some(parsed),
                    (Err(e), _) => parse_errors.push(e),
                },
                false => match (RunLimit::parse(&attr), &run_limit) {
                    (Ok(_), Some(_)) => parse_errors.push(twice()),
                    (Ok(parsed), None) => run_limit = Some(parsed),
                    (Err(e), _) => parse_errors.push(e),
                },
            }
        }
        PipelineAttrs {
            idempotent,
            run_limit,
            schedules,
            fair,
        }
    }
}
