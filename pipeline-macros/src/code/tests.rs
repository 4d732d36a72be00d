//! Every change of a fn's code changes its digest; whitespace and comments do not.

use std::collections::HashMap;

use super::fn_digest;

const BASE: &str = r#"
    async fn score(line: String, weight: i64) -> anyhow::Result<i64> {
        let n = parse_line(&line)? * weight + 3;
        if n > 10 { Ok(n - 1) } else { Ok(n % 7) }
    }
"#;

fn digest(source: &str) -> String {
    match syn::parse_str::<syn::ItemFn>(source) {
        Ok(item) => fn_digest(&item),
        Err(e) => panic!("{e}: {source}"),
    }
}

/// The variants of `BASE` that change what it computes: literals, operators, called helpers,
/// signatures, names.
fn changed() -> Vec<String> {
    let mut variants = Vec::new();
    for n in (0..40).filter(|n| *n != 3) {
        variants.push(BASE.replace("+ 3", &format!("+ {n}")));
    }
    for n in (0..20).filter(|n| *n != 10) {
        variants.push(BASE.replace("n > 10", &format!("n > {n}")));
    }
    variants.push(BASE.replace("+ 3", "+ 3i64"));
    variants.push(BASE.replace("+ 3", "+ 0x3"));
    for op in ["-", "/", "%", "&", "|", "^", "<<", ">>"] {
        variants.push(BASE.replace("* weight", &format!("{op} weight")));
    }
    for op in [">=", "<", "<=", "==", "!="] {
        variants.push(BASE.replace("n > 10", &format!("n {op} 10")));
    }
    for helper in [
        "parse_lines",
        "parse_row",
        "read_line",
        "crate::parse_line",
        "other::parse_line",
    ] {
        variants.push(BASE.replace("parse_line(", &format!("{helper}(")));
    }
    for (from, to) in [
        ("line: String", "line: &str"),
        ("line: String", "text: String"),
        ("weight: i64", "weight: i32"),
        ("weight: i64", "weight: u64"),
        ("weight: i64)", "weight: i64, extra: bool)"),
        ("-> anyhow::Result<i64>", "-> anyhow::Result<u64>"),
        ("-> anyhow::Result<i64>", "-> std::io::Result<i64>"),
        ("async fn", "fn"),
        ("fn score", "fn score2"),
        ("(line: String, weight: i64)", "(weight: i64, line: String)"),
        ("Ok(n - 1)", "Ok(n + 1)"),
        ("Ok(n - 1)", "Ok(1 - n)"),
        ("Ok(n % 7)", "Ok(n % 8)"),
        ("Ok(n % 7)", "Ok((n % 7))"),
        ("(&line)?", "(&line).unwrap_or(0)"),
        ("(&line)?", "(line.trim())?"),
        ("let n =", "let m = 0; let n ="),
        ("if n > 10", "if !(n > 10)"),
        (
            "{ Ok(n - 1) } else { Ok(n % 7) }",
            "{ Ok(n % 7) } else { Ok(n - 1) }",
        ),
        ("+ 3;", "+ 3;;"),
        ("+ 3;", "+ \"3\".len() as i64;"),
        ("+ 3;", "+ '3' as i64;"),
        ("+ 3;", "+ 3.0 as i64;"),
        ("let n", "let mut n"),
        ("let n", "let _n = 0; let n"),
    ] {
        variants.push(BASE.replace(from, to));
    }
    variants
}

#[test]
fn every_change_of_code_changes_the_digest() {
    let base = digest(BASE);
    let variants = changed();
    assert!(variants.len() >= 100, "{} variants", variants.len());
    let mut seen: HashMap<String, &str> = HashMap::from([(base, BASE)]);
    for variant in &variants {
        assert_ne!(variant, BASE, "a variant equal to the base");
        if let Some(other) = seen.insert(digest(variant), variant) {
            panic!("two codes, one digest:\n{other}\n{variant}");
        }
    }
}

#[test]
fn whitespace_and_comments_do_not_change_the_digest() {
    let base = digest(BASE);
    let same = [
        BASE.replace("    ", "\t"),
        BASE.replace(' ', "  "),
        BASE.replace("* weight + 3", "*weight+3"),
        BASE.replace('\n', "\n\n"),
        BASE.replace("-> anyhow", "->\n anyhow"),
        BASE.replace("let n", "// the line's score\n let n"),
        BASE.replace("let n", "/* a block comment */ let n"),
        BASE.replace("+ 3;", "+ 3; // three"),
        format!("/// Scores a line.\n#[allow(unused)]\n{BASE}"),
    ];
    for variant in same {
        assert_eq!(digest(&variant), base, "{variant}");
    }
}

#[test]
fn the_node_macro_keys_its_cache_on_this_digest() {
    let item: syn::ItemFn = match syn::parse_str(BASE) {
        Ok(item) => item,
        Err(e) => panic!("{e}"),
    };
    let tokens = quote::ToTokens::to_token_stream(&item);
    let expanded = crate::node::expand(quote::quote!(cache), tokens).to_string();
    assert!(expanded.contains(&fn_digest(&item)), "{expanded}");
}
