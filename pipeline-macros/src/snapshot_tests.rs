//! Snapshots of what `#[node]` and `pipeline!` expand to, kept in `snapshots/` so reviewers can read
//! the generated code. A change to the expansion fails these tests; after reviewing the new output,
//! rerun with `UPDATE_SNAPSHOTS=1` to accept it.

use proc_macro2::TokenStream;
use quote::quote;

fn check(name: &str, expansion: TokenStream) {
    let file: syn::File = match syn::parse2(expansion.clone()) {
        Ok(file) => file,
        Err(e) => panic!("the expansion of {name} is not valid Rust ({e}):\n{expansion}"),
    };
    let formatted = prettyplease::unparse(&file);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.rs"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        if let Err(e) = std::fs::write(&path, &formatted) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        stored == formatted,
        "the expansion of {name} changed; review it, then accept it with UPDATE_SNAPSHOTS=1:\n{formatted}"
    );
}

#[test]
fn node_expansion() {
    let attr = quote!(retries = 3, timeout = "30s");
    let item = quote! {
        /// Counts orders.
        async fn count(orders: Vec<Order>, ctx: NodeContext) -> anyhow::Result<usize> {
            Ok(orders.len())
        }
    };
    check("node_count", crate::node::expand(attr, item));
}

#[test]
fn sync_node_expansion() {
    let item = quote! {
        fn render(total: i64, n: usize) -> String {
            format!("{n} orders, {total} cents")
        }
    };
    check("node_render", crate::node::expand(TokenStream::new(), item));
}

#[test]
fn pipeline_expansion() {
    let input = quote! {
        /// Daily sales report.
        pub Sales(path: String) -> String {
            orders = load(path);
            sum    = total(orders);
            n      = count(orders);
            alert  = page_oncall(sum) if sum > 1_000_000;
            report = render(sum, n);
            report
        }
    };
    check("pipeline_sales", crate::pipeline::expand(input));
}

#[test]
fn mapped_pipeline_expansion() {
    let input = quote! {
        /// Crawls pages.
        pub Crawl(urls: Vec<String>, cfg: Config) -> usize {
            pages  = fetch(each urls, cfg);
            counts = words(each pages) if !pages.is_empty();
            sum    = total(counts);
            sum
        }
    };
    check("pipeline_crawl", crate::pipeline::expand(input));
}
