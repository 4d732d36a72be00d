//! What a cached node's key is made of besides its inputs: `#[node(cache)]`'s code digest, its
//! helpers' (`uses = [..]`, each `#[hashed]`), and how long an entry is reused.

use std::time::Duration;

/// How a node's results are cached across runs (`#[node(cache)]`, or
/// [`NodeBuilder::cache`](crate::graph::NodeBuilder::cache) for a graph built by hand).
///
/// A run reuses the output an earlier run stored for the same key instead of running the node.
/// The key holds the node's fn, its code, its helpers' code, its `version` and a canonical
/// digest of each input value, so a change to any of them misses. `#[node]` takes the code
/// from the fn's tokens (its signature and body; whitespace and comments do not count); a graph
/// built by hand names its own code, and should change it whenever what the node computes
/// changes.
///
/// ```
/// use std::time::Duration;
/// use pipeline::cache::NodeCache;
///
/// let cache = NodeCache::new("score", "v3").ttl(Duration::from_secs(86_400));
/// assert_eq!(cache.code, "v3");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeCache {
    /// The fn the entries belong to (`#[node]` writes `module::path::fn`): nodes of different
    /// fns never share an entry, even in one pipeline.
    pub owner: String,
    /// The node's code: a digest of its tokens (`#[node]`), or a name a hand-built graph gives.
    pub code: String,
    /// The helpers the node calls (`uses = [..]`), each with its code digest.
    pub helpers: Vec<(String, String)>,
    /// How long an entry is reused after it was stored; `None`: until it is cleared.
    pub ttl: Option<Duration>,
}

impl NodeCache {
    /// A cache for the entries of `owner`, keyed on `code`.
    pub fn new(owner: impl Into<String>, code: impl Into<String>) -> Self {
        NodeCache {
            owner: owner.into(),
            code: code.into(),
            helpers: Vec::new(),
            ttl: None,
        }
    }

    /// Entries are reused for `ttl` after they were stored.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// A helper the node calls, whose `code` is part of the key.
    pub fn helper(mut self, name: impl Into<String>, code: impl Into<String>) -> Self {
        self.helpers.push((name.into(), code.into()));
        self
    }
}

/// A helper listed in `uses`: its name, and how to get its code digest.
#[doc(hidden)]
pub type Helper<'a> = (&'a str, fn() -> String);

/// A `#[hashed]` fn, as `uses = [..]` reads it: the hidden type named like the fn.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a `#[hashed]` fn",
    label = "`uses` lists `#[hashed]` fns",
    note = "add `#[hashed]` above the helper's definition, so its code is part of the key"
)]
pub trait Hashed {
    /// The digest of the fn's code and of the helpers it lists.
    fn code() -> String;
}

/// A `#[hashed]` fn's code: its own `tokens` digest, with those of the helpers it lists.
#[doc(hidden)]
pub fn helper_code(tokens: &str, uses: &[Helper<'_>]) -> String {
    if uses.is_empty() {
        return tokens.to_owned();
    }
    let mut parts = vec![tokens.to_owned()];
    for (name, code) in uses {
        parts.push(format!("{name}={}", code()));
    }
    crate::data::text_digest(&parts.join("\n"))
}

/// `#[node(cache)]`'s [`NodeCache`]: `ttl_nanos`, the fn's code digest, its path, its helpers.
#[doc(hidden)]
pub fn node_cache(
    ttl_nanos: Option<u64>,
    code: &str,
    owner: &str,
    uses: &[Helper<'_>],
) -> NodeCache {
    NodeCache {
        owner: owner.to_owned(),
        code: code.to_owned(),
        helpers: uses
            .iter()
            .map(|(name, code)| ((*name).to_owned(), code()))
            .collect(),
        ttl: ttl_nanos.map(Duration::from_nanos),
    }
}
