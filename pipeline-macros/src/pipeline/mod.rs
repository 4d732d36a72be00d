//! `pipeline!`: parse into a model, check it rule by rule, then generate.

mod ast;
mod check;
mod expand;

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
    let order = check::all(&cx, &def);
    match (cx.check(), order) {
        (Ok(()), Some(order)) => {
            let expansion = expand::pipeline(&def, &order);
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

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // One edit in three characters; none for names too short for a typo to be recognizable.
    let len = name.chars().count();
    let limit = if len < 3 { 0 } else { (len / 3).max(1) };
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("ordrs", ["orders", "sum", "n"]),
            Some("orders")
        );
        assert_eq!(did_you_mean("sun", ["orders", "sum"]), Some("sum"));
        assert_eq!(did_you_mean("zzz", ["orders", "sum"]), None);
        assert_eq!(did_you_mean("y", ["x"]), None);
    }
}
