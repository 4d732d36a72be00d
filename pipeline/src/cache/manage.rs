//! Managing a store's cache: collecting entries past an age or beyond a size ([`collect`]), and
//! explaining why a run's call missed ([`why_missed`]): which part of its key differed from the
//! nearest entry of the same node fn.

use std::time::Duration;

use crate::run_id::RunId;
use crate::store::{CacheEntry, CacheFilter, ResultCache, StoreResult};

/// How much a cache may keep ([`collect`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheLimits {
    /// Entries stored longer ago than this are removed.
    pub max_age: Option<Duration>,
    /// The outputs' total size in bytes: the oldest entries are removed until the rest fit.
    pub max_bytes: Option<u64>,
}

impl CacheLimits {
    /// No limit but the entries' own times to live.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes entries older than `age`.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Keeps at most `bytes` of outputs, the newest.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = Some(bytes);
        self
    }
}

/// The entries [`collect`] chose, with why.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Collected {
    /// The entries past their time to live.
    pub expired: Vec<CacheEntry>,
    /// The entries older than the limit's age.
    pub too_old: Vec<CacheEntry>,
    /// The oldest of the rest, removed to fit the size limit.
    pub over_size: Vec<CacheEntry>,
}

impl Collected {
    /// Every chosen entry.
    pub fn entries(&self) -> impl Iterator<Item = &CacheEntry> {
        self.expired
            .iter()
            .chain(&self.too_old)
            .chain(&self.over_size)
    }

    /// Their outputs' total size in bytes.
    pub fn bytes(&self) -> u64 {
        self.entries().map(|e| e.size).sum()
    }
}

/// Chooses the entries of `cache` that `limits` (and their own times to live) do not keep at
/// `now_ms`, and removes them when `remove`; without it, only says which.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// use pipeline::cache::{CacheLimits, collect};
/// use pipeline::{Checkpointer, InMemoryCheckpointer};
///
/// let store = InMemoryCheckpointer::new();
/// let cache = store.cache().expect("the in-memory store keeps a cache");
/// let chosen = collect(cache, &CacheLimits::new().max_bytes(1 << 30), 0, true).await?;
/// assert_eq!(chosen.bytes(), 0);
/// # Ok::<(), pipeline::StoreError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn collect(
    cache: &dyn ResultCache,
    limits: &CacheLimits,
    now_ms: u64,
    remove: bool,
) -> StoreResult<Collected> {
    let cutoff = limits
        .max_age
        .map(|age| now_ms.saturating_sub(u64::try_from(age.as_millis()).unwrap_or(u64::MAX)));
    let mut chosen = Collected::default();
    let mut kept = Vec::new();
    for entry in cache.cache_list(&CacheFilter::all()).await? {
        if entry.expired(now_ms) {
            chosen.expired.push(entry);
        } else if cutoff.is_some_and(|c| entry.created_at_ms < c) {
            chosen.too_old.push(entry);
        } else {
            kept.push(entry);
        }
    }
    if let Some(max) = limits.max_bytes {
        // Oldest first: drop from the front until the rest fit.
        let mut total: u64 = kept.iter().map(|e| e.size).sum();
        let mut first_kept = 0;
        while total > max && first_kept < kept.len() {
            total -= kept[first_kept].size;
            first_kept += 1;
        }
        chosen.over_size = kept.drain(..first_kept).collect();
    }
    if remove {
        let keys: Vec<String> = chosen.entries().map(|e| e.key.clone()).collect();
        if !keys.is_empty() {
            cache.cache_remove(&keys).await?;
        }
    }
    Ok(chosen)
}

/// A part of a cache key that differed between two entries of one node fn.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyDifference {
    /// The node's own code (its signature or body).
    Code,
    /// A helper's code differed, or it was listed by one and not the other.
    Helper {
        /// The helper's name as `uses` lists it.
        name: String,
        /// Whether the earlier entry listed it, and the later one.
        listed: (bool, bool),
    },
    /// The node's `version`.
    Version {
        /// The earlier entry's version.
        was: String,
        /// The later one's.
        now: String,
    },
    /// An input value (by parameter position and name) differed: in these top-level fields
    /// when both values are objects (empty when the values are not objects, or only their order
    /// of fields or their set of fields differs).
    Input {
        /// The parameter's position.
        position: usize,
        /// The name of the input or node it came from.
        name: String,
        /// The fields whose values differ, are missing on one side, or were added.
        fields: Vec<String>,
    },
}

impl std::fmt::Display for KeyDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyDifference::Code => f.write_str("the node's code changed"),
            KeyDifference::Helper { name, listed } => match listed {
                (true, true) => write!(f, "the code of helper `{name}` changed"),
                (false, _) => write!(f, "helper `{name}` was added to `uses`"),
                (_, false) => write!(f, "helper `{name}` was removed from `uses`"),
            },
            KeyDifference::Version { was, now } => {
                write!(f, "the version changed: {was:?} -> {now:?}")
            }
            KeyDifference::Input { name, fields, .. } if fields.is_empty() => {
                write!(f, "input `{name}` differed")
            }
            KeyDifference::Input { name, fields, .. } => {
                write!(f, "input `{name}` differed in {}", fields.join(", "))
            }
        }
    }
}

/// Why a run's call of a node missed: the entry the run stored for it, the nearest earlier
/// entry of the same node fn, and the parts of the key that differed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Missed {
    /// What the run stored after it missed.
    pub entry: CacheEntry,
    /// The earlier entry of the same node fn whose key differs in the fewest parts; `None` when
    /// the cache holds no earlier entry of it (a first run, or entries cleared or expired).
    pub nearest: Option<CacheEntry>,
    /// The parts of the key that differ from `nearest`'s.
    pub differences: Vec<KeyDifference>,
}

/// Why run `run_id`'s calls of node `node` missed the cache, one [`Missed`] per entry the run
/// stored for it (one per item for a mapped node). Empty when the run stored none: its output
/// came from the cache, it could not be cached, or its entry was since removed.
pub async fn why_missed(
    cache: &dyn ResultCache,
    run_id: &RunId,
    node: &str,
) -> StoreResult<Vec<Missed>> {
    let mine: Vec<CacheEntry> = cache
        .cache_list(&CacheFilter::all().node(node))
        .await?
        .into_iter()
        .filter(|e| e.run_id == *run_id && e.node == node)
        .collect();
    let mut explained = Vec::with_capacity(mine.len());
    // Each fn's entries are listed once, however many of its calls missed (a map's items).
    let mut of_owner: std::collections::HashMap<String, Vec<CacheEntry>> = Default::default();
    for entry in mine {
        if !of_owner.contains_key(&entry.owner) {
            let owner = CacheFilter::all().node(entry.owner.clone());
            let listed = cache.cache_list(&owner).await?;
            of_owner.insert(entry.owner.clone(), listed);
        }
        let others = of_owner.get(&entry.owner).map_or(&[][..], Vec::as_slice);
        let nearest = others
            .iter()
            .filter(|o| o.key != entry.key && o.owner == entry.owner)
            .filter(|o| o.created_at_ms <= entry.created_at_ms)
            .map(|o| (differences(o, &entry), o))
            // Fewest differences (each differing field of an input counts); among equals, the
            // latest.
            .min_by(|(a, x), (b, y)| {
                weight(a)
                    .cmp(&weight(b))
                    .then(y.created_at_ms.cmp(&x.created_at_ms))
            });
        let (differences, nearest) = match nearest {
            Some((differences, nearest)) => (differences, Some(nearest.clone())),
            None => (Vec::new(), None),
        };
        explained.push(Missed {
            entry,
            nearest,
            differences,
        });
    }
    Ok(explained)
}

/// How far apart two keys are: one per differing part, an input by its differing fields.
fn weight(differences: &[KeyDifference]) -> usize {
    differences
        .iter()
        .map(|d| match d {
            KeyDifference::Input { fields, .. } => fields.len().max(1),
            _ => 1,
        })
        .sum()
}

/// The parts of `later`'s key that differ from `earlier`'s.
pub fn differences(earlier: &CacheEntry, later: &CacheEntry) -> Vec<KeyDifference> {
    let mut parts = Vec::new();
    if earlier.code != later.code {
        parts.push(KeyDifference::Code);
    }
    let mut names: Vec<&String> = earlier
        .helpers
        .iter()
        .chain(&later.helpers)
        .map(|(n, _)| n)
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        let code = |e: &CacheEntry| {
            e.helpers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| c.clone())
        };
        let (was, now) = (code(earlier), code(later));
        if was != now {
            let listed = (was.is_some(), now.is_some());
            parts.push(KeyDifference::Helper {
                name: name.clone(),
                listed,
            });
        }
    }
    if earlier.version != later.version {
        parts.push(KeyDifference::Version {
            was: earlier.version.clone(),
            now: later.version.clone(),
        });
    }
    let inputs = earlier.inputs.len().max(later.inputs.len());
    for position in 0..inputs {
        let (was, now) = (earlier.inputs.get(position), later.inputs.get(position));
        if was.map(|i| &i.digest) == now.map(|i| &i.digest) {
            continue;
        }
        let name = now.or(was).map(|i| i.name.clone()).unwrap_or_default();
        let mut fields: Vec<String> = Vec::new();
        if let (Some(was), Some(now)) = (was, now) {
            let keys = was.fields.keys().chain(now.fields.keys());
            for key in keys {
                if was.fields.get(key) != now.fields.get(key) && !fields.contains(key) {
                    fields.push(key.clone());
                }
            }
        }
        fields.sort();
        parts.push(KeyDifference::Input {
            position,
            name,
            fields,
        });
    }
    parts
}
