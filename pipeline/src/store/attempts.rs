//! The attempts a run has made so far, by its audit trail: a resumed run numbers its next
//! attempts on from them.

use std::collections::HashMap;

use super::records::AuditEntry;

/// The number of the last attempt each node of a run, and each item of a mapped node, made, as
/// the run's audit trail records them ([`AuditLog::last_attempts`](super::AuditLog::last_attempts)).
///
/// Attempt numbers count across the starts of a run: a run resumed after a node's attempts 1 and
/// 2 failed numbers the node's next attempt 3, and that start has the node's whole retry budget
/// again. An attempt a crash cut short left no entry, so its number is given again.
///
/// ```
/// use pipeline::store::LastAttempts;
///
/// let mut last = LastAttempts::new();
/// last.note("fetch", None, 2);
/// last.note("parse", Some(4), 1);
/// assert_eq!(last.last("fetch", None), 2);
/// assert_eq!(last.last("parse", Some(4)), 1);
/// assert_eq!(last.last("parse", Some(5)), 0, "no attempt yet");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastAttempts {
    nodes: HashMap<String, NodeAttempts>,
}

/// One node's last attempt, and its items' (for a mapped node), by item index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NodeAttempts {
    whole: u32,
    items: HashMap<u32, u32>,
}

impl LastAttempts {
    /// No attempt made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last attempts `entries` record.
    pub fn of_entries<'a>(entries: impl IntoIterator<Item = &'a AuditEntry>) -> Self {
        let mut last = Self::new();
        for entry in entries {
            last.note(&entry.node, entry.item.map(|i| i.index), entry.attempt);
        }
        last
    }

    /// Whether no attempt is known.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Notes attempt `attempt` of `node` (of its item `item`, for a mapped node); a lower number
    /// than one already noted changes nothing.
    pub fn note(&mut self, node: &str, item: Option<u32>, attempt: u32) {
        let noted = match self.nodes.get_mut(node) {
            Some(noted) => noted,
            None => self.nodes.entry(node.to_owned()).or_default(),
        };
        let last = match item {
            None => &mut noted.whole,
            Some(index) => noted.items.entry(index).or_default(),
        };
        *last = (*last).max(attempt);
    }

    /// The number of the last attempt of `node` (of its item `item`), 0 when it made none.
    pub fn last(&self, node: &str, item: Option<u32>) -> u32 {
        let Some(noted) = self.nodes.get(node) else {
            return 0;
        };
        match item {
            None => noted.whole,
            Some(index) => noted.items.get(&index).copied().unwrap_or(0),
        }
    }

    /// The last attempts of `node`'s items that made one, by item index (in no order).
    pub fn items(&self, node: &str) -> Vec<(u32, u32)> {
        let Some(noted) = self.nodes.get(node) else {
            return Vec::new();
        };
        noted
            .items
            .iter()
            .map(|(&index, &last)| (index, last))
            .collect()
    }
}
