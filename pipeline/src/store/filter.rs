//! [`OutputFilter`]: which stored outputs a resume still needs.

use std::collections::{HashMap, HashSet};

/// Which stored outputs a resume still needs: those a node that will run reads (a node is run
/// again unless the checkpoint records it: a mapped node, every one of its items), those the
/// pipeline's output reads, and the recorded items of a mapped node that will run again. A store may
/// leave the others out of the checkpoint it hands to a resume (their records stay, with a `null`
/// output), so resuming a long run holds only its live frontier. `OutputFilter::default()` needs
/// every output.
#[derive(Clone, Debug, Default)]
pub struct OutputFilter {
    readers: HashMap<String, Vec<String>>,
    pinned: HashSet<String>,
    mapped: HashSet<String>,
    /// For a mapped node whose list is another node's output, that node.
    lists: HashMap<String, String>,
}

impl OutputFilter {
    /// A filter from each node's readers (the nodes that take its output as an argument or in
    /// their condition) and the nodes the pipeline's output reads.
    pub fn new(
        readers: impl IntoIterator<Item = (String, Vec<String>)>,
        pinned: impl IntoIterator<Item = String>,
    ) -> Self {
        OutputFilter {
            readers: readers.into_iter().collect(),
            pinned: pinned.into_iter().collect(),
            mapped: HashSet::new(),
            lists: HashMap::new(),
        }
    }

    /// The same filter, told which nodes are mapped over a list (`each`): a resume that runs
    /// one of them again (not every item is recorded) needs its recorded items' outputs.
    pub fn with_mapped(mut self, mapped: impl IntoIterator<Item = String>) -> Self {
        self.mapped = mapped.into_iter().collect();
        self
    }

    /// The same filter, told which node's output each mapped node maps over (see
    /// [`settled`](OutputFilter::settled)).
    pub fn with_lists(mut self, lists: impl IntoIterator<Item = (String, String)>) -> Self {
        self.lists = lists.into_iter().collect();
        self
    }

    /// Of the nodes a checkpoint records completely, those a resume restores whole. A mapped
    /// node whose list comes from a node that runs again is not: its list may now hold other
    /// items, or the same in another order, so it opens again and reuses its item records by
    /// the items' digests. Stores pass the result to [`needs`](OutputFilter::needs).
    pub fn settled(&self, mut recorded: HashSet<String>) -> HashSet<String> {
        loop {
            let unsettled: Vec<String> = self
                .lists
                .iter()
                .filter(|(map, list)| recorded.contains(*map) && !recorded.contains(*list))
                .map(|(map, _)| map.clone())
                .collect();
            if unsettled.is_empty() {
                return recorded;
            }
            for map in &unsettled {
                recorded.remove(map);
            }
        }
    }

    /// Whether a resume needs `node`'s output, given the nodes the checkpoint records (as
    /// [`settled`](OutputFilter::settled) leaves them). A node the
    /// filter does not know is needed (the resume will refuse the changed graph anyway).
    pub fn needs(&self, node: &str, recorded: &HashSet<String>) -> bool {
        self.pinned.contains(node)
            || (self.mapped.contains(node) && !recorded.contains(node))
            || self
                .readers
                .get(node)
                .is_none_or(|readers| readers.iter().any(|r| !recorded.contains(r)))
    }
}
