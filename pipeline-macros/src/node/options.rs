//! `#[node(...)]` options. One table lists the keys; each error sits on the option's own token.

use proc_macro2::TokenStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, MetaNameValue, Token};

use crate::ctxt::Ctxt;

/// The keys `#[node(...)]` accepts, with what each takes.
const KEYS: &[(&str, &str)] = &[
    ("retries", "a whole number, e.g. `retries = 3`"),
    ("timeout", "a duration string, e.g. `timeout = \"30s\"`"),
    ("backoff", "a duration string, e.g. `backoff = \"200ms\"`"),
    ("on_error", "`skip_downstream` or `fail_fast`"),
    (
        "version",
        "a non-empty string of one line, e.g. `version = \"2\"`: change it when a fix changes \
         what the node returns, so checkpoints of the old code are not resumed",
    ),
    (
        "max_in_flight",
        "a whole number of at least 1, e.g. `max_in_flight = 8` (items of a node mapped with `each` run at once)",
    ),
    (
        "limit",
        "a whole number of at least 1, e.g. `limit = 10` (executions of the node at once, across every run and worker)",
    ),
    (
        "rate",
        "starts per time, e.g. `rate = \"100/s\"`, `\"5/m\"` or `\"10/30s\"` (how often executions of the node start, across every run and worker)",
    ),
    (
        "cache",
        "`cache` alone, or a time to live, e.g. `cache = \"30d\"` (a new run reuses the output an earlier run computed from equal inputs with the same code)",
    ),
    (
        "uses",
        "a list of `#[hashed]` fns the node calls, e.g. `uses = [parse_line, score]` (their code is part of the cache key)",
    ),
];

#[derive(Default)]
pub struct Options {
    pub retries: u32,
    pub timeout_nanos: Option<u64>,
    pub backoff_nanos: Option<u64>,
    /// `Some(true)` for `skip_downstream`, `Some(false)` for `fail_fast`.
    pub skip_downstream: Option<bool>,
    pub max_in_flight: Option<u32>,
    pub limit: Option<u32>,
    /// `rate`: starts, and per how many nanoseconds.
    pub rate: Option<(u32, u64)>,
    pub version: Option<String>,
    /// `cache`: `Some(None)` alone, `Some(Some(nanos))` with a time to live.
    pub cache: Option<Option<u64>>,
    /// `uses = [..]`: the helpers whose code is part of the cache key.
    pub uses: Vec<syn::Path>,
}

pub fn parse(cx: &Ctxt, attr: TokenStream) -> Options {
    let mut options = Options::default();
    if attr.is_empty() {
        return options;
    }
    let parser = Punctuated::<Meta, Token![,]>::parse_terminated;
    let metas = match syn::parse::Parser::parse2(parser, attr) {
        Ok(metas) => metas,
        Err(error) => {
            cx.push(error);
            return options;
        }
    };
    let mut seen: Vec<String> = Vec::new();
    for meta in metas {
        // `cache` is the one option that may stand alone.
        let meta = match meta {
            Meta::NameValue(meta) => meta,
            Meta::Path(path) if path.is_ident("cache") => MetaNameValue {
                path,
                eq_token: Default::default(),
                value: Expr::Verbatim(TokenStream::new()),
            },
            other => {
                let path = other.path();
                let key = path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let message = match KEYS.iter().any(|(k, _)| *k == key) {
                    true => format!("write `{key} = ..`: expected {}", expected(&key)),
                    false => unknown_key_message(&key),
                };
                cx.error_spanned_by(&other, message);
                continue;
            }
        };
        let Some(key) = meta.path.get_ident().map(ToString::to_string) else {
            let text: Vec<String> = meta
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            cx.error_spanned_by(&meta.path, unknown_key_message(&text.join("::")));
            continue;
        };
        if !KEYS.iter().any(|(k, _)| *k == key) {
            cx.error_spanned_by(&meta.path, unknown_key_message(&key));
            continue;
        }
        if seen.contains(&key) {
            cx.error_spanned_by(&meta.path, format!("`{key}` is given twice; keep one"));
            continue;
        }
        seen.push(key.clone());
        set(cx, &mut options, &key, &meta.value);
    }
    if options.cache.is_none()
        && let Some(path) = options.uses.first()
    {
        cx.error_spanned_by(
            path,
            "`uses` lists the helpers whose code a cached node's key holds; add `cache`",
        );
    }
    options
}

fn unknown_key_message(key: &str) -> String {
    let keys: Vec<String> = KEYS.iter().map(|(k, _)| format!("`{k}`")).collect();
    let hint = crate::text::did_you_mean(key, KEYS.iter().map(|(k, _)| *k))
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown `#[node]` option `{key}`{hint}\nthe options are {}",
        keys.join(", ")
    )
}

fn expected(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, what)| what)
}

fn set(cx: &Ctxt, options: &mut Options, key: &str, value: &Expr) {
    let bad = || format!("bad value for `{key}`: expected {}", expected(key));
    match key {
        "retries" => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => match int.base10_parse::<u32>() {
                Ok(n) => options.retries = n,
                Err(_) => cx.error_spanned_by(value, bad()),
            },
            _ => cx.error_spanned_by(value, bad()),
        },
        "max_in_flight" | "limit" => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }) => match int.base10_parse::<u32>() {
                Ok(n) if n >= 1 && key == "limit" => options.limit = Some(n),
                Ok(n) if n >= 1 => options.max_in_flight = Some(n),
                _ => cx.error_spanned_by(value, bad()),
            },
            _ => cx.error_spanned_by(value, bad()),
        },
        "timeout" | "backoff" => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) => match parse_duration(&text.value()) {
                Ok(0) if key == "timeout" => cx.error_spanned_by(
                    value,
                    "a timeout of zero would fail every attempt; remove `timeout` for no limit",
                ),
                Ok(nanos) if key == "timeout" => options.timeout_nanos = Some(nanos),
                Ok(nanos) => options.backoff_nanos = Some(nanos),
                Err(why) => cx.error_at(
                    value.span(),
                    format!("bad duration {:?} for `{key}`: {why}", text.value()),
                ),
            },
            _ => cx.error_spanned_by(value, bad()),
        },
        "rate" => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) => match parse_rate(&text.value()) {
                Ok(rate) => options.rate = Some(rate),
                Err(why) => cx.error_at(
                    value.span(),
                    format!("bad rate {:?} for `rate`: {why}", text.value()),
                ),
            },
            _ => cx.error_spanned_by(value, bad()),
        },
        "version" => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) if !text.value().trim().is_empty() && !text.value().contains('\n') => {
                options.version = Some(text.value())
            }
            _ => cx.error_spanned_by(value, bad()),
        },
        "cache" => match value {
            Expr::Verbatim(tokens) if tokens.is_empty() => options.cache = Some(None),
            Expr::Lit(ExprLit {
                lit: Lit::Str(text),
                ..
            }) => match parse_duration(&text.value()) {
                Ok(0) => cx.error_spanned_by(
                    value,
                    "a time to live of zero would never reuse an entry; remove `cache`",
                ),
                Ok(nanos) => options.cache = Some(Some(nanos)),
                Err(why) => cx.error_at(
                    value.span(),
                    format!("bad duration {:?} for `cache`: {why}", text.value()),
                ),
            },
            _ => cx.error_spanned_by(value, bad()),
        },
        "uses" => match value {
            Expr::Array(array) => {
                for element in &array.elems {
                    match element {
                        Expr::Path(path) if path.qself.is_none() => {
                            options.uses.push(path.path.clone())
                        }
                        other => cx.error_spanned_by(other, bad()),
                    }
                }
            }
            _ => cx.error_spanned_by(value, bad()),
        },
        "on_error" => match value {
            Expr::Path(path) if path.path.is_ident("skip_downstream") => {
                options.skip_downstream = Some(true)
            }
            Expr::Path(path) if path.path.is_ident("fail_fast") => {
                options.skip_downstream = Some(false)
            }
            _ => cx.error_spanned_by(value, bad()),
        },
        _ => unreachable!("keys were checked against KEYS"),
    }
}

/// Parses `"100/s"`, `"5/m"`, `"10/30s"` into starts and nanoseconds (at least 1 of each).
pub fn parse_rate(text: &str) -> Result<(u32, u64), String> {
    let (count, per) = text
        .split_once('/')
        .ok_or_else(|| "write it as starts per time, e.g. \"100/s\" or \"10/30s\"".to_owned())?;
    let count: u32 = match count.trim().parse() {
        Ok(n) if n >= 1 => n,
        _ => return Err(format!("`{count}` is not a whole number of at least 1")),
    };
    let per = per.trim();
    let per = match per.starts_with(|c: char| c.is_ascii_digit()) {
        true => per.to_owned(),
        false => format!("1{per}"),
    };
    match parse_duration(&per)? {
        0 => Err("the time is zero".to_owned()),
        nanos => Ok((count, nanos)),
    }
}

/// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"` and sums like `"1m30s"` into nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    const HOW: &str =
        "write numbers with units `ms`, `s`, `m`, `h` or `d`, e.g. \"30s\" or \"1m30s\"";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("it is empty; {HOW}"));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at `{rest}`; {HOW}"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{}` is too large", &rest[..digits]))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: u64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "" => return Err(format!("`{number}` has no unit; {HOW}")),
            unit => return Err(format!("unknown unit `{unit}`; {HOW}")),
        };
        rest = &rest[unit_len..];
        total = number
            .checked_mul(scale)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| "the duration is too long".to_owned())?;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250_000_000));
        assert_eq!(parse_duration("30s"), Ok(30_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000_000_000));
        assert!(parse_duration("30").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("30 seconds")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }
}
