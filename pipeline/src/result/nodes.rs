//! The node-keyed parts of a [`PipelineResult`](super::PipelineResult): every node's status and
//! lists of nodes. Both refer to the graph's own node ids, so a run of 10,000 nodes builds no
//! string and no map to report them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::NodeStatus;

/// The node ids of a graph, by index, as the results of its runs name them.
pub(crate) trait NodeNames: Send + Sync {
    /// Node `index`'s id.
    fn id(&self, index: u32) -> &str;
    /// The index of node `id`.
    fn index(&self, id: &str) -> Option<u32>;
    /// What node `index` runs: its `#[node]` fn's name, or the kind a `GraphBuilder` gave it.
    fn kind(&self, index: u32) -> &str;
}

/// Every node's status in a run, by node id, in the graph's declaration order.
///
/// ```
/// use pipeline::{GraphBuilder, NodeStatus, PipelineEngine};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = GraphBuilder::<u64>::new("two");
/// let x = g.input("x", |x: &u64| *x);
/// let a = g.node("a").run(x, |x, _| async move { Ok::<_, std::io::Error>(x + 1) });
/// let b = g.node("b").when(a, |a| a > 10).run(a, |a, _| async move { Ok::<_, std::io::Error>(a) });
/// let result = PipelineEngine::new(g.build(b)?).run(1).await?;
///
/// assert_eq!(result.nodes.get("a"), Some(NodeStatus::Completed));
/// assert_eq!(result.nodes["b"], NodeStatus::Skipped);
/// let all: Vec<(&str, NodeStatus)> = result.nodes.iter().collect();
/// assert_eq!(all, [("a", NodeStatus::Completed), ("b", NodeStatus::Skipped)]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct NodeStatuses {
    names: Arc<dyn NodeNames>,
    statuses: Vec<NodeStatus>,
}

impl NodeStatuses {
    /// `statuses[i]` is node `i`'s status.
    pub(crate) fn new(names: Arc<dyn NodeNames>, statuses: Vec<NodeStatus>) -> Self {
        NodeStatuses { names, statuses }
    }

    /// The status of node `id`; `None` if the pipeline has no such node.
    pub fn get(&self, id: &str) -> Option<NodeStatus> {
        let index = self.names.index(id)?;
        self.statuses.get(index as usize).copied()
    }

    /// What node `id` runs: the name of its `#[node]` fn (`text = read(path)` runs `read`), or
    /// the kind a [`GraphBuilder`](crate::GraphBuilder) node was given (its id by default);
    /// `None` if the pipeline has no such node.
    pub fn kind(&self, id: &str) -> Option<&str> {
        let index = self.names.index(id)?;
        Some(self.names.kind(index))
    }

    /// Whether the pipeline has a node `id`.
    pub fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// How many nodes the pipeline has.
    pub fn len(&self) -> usize {
        self.statuses.len()
    }

    /// Whether the pipeline has no nodes.
    pub fn is_empty(&self) -> bool {
        self.statuses.is_empty()
    }

    /// Each node's id and status, in declaration order.
    pub fn iter(&self) -> NodeStatusIter<'_> {
        NodeStatusIter { of: self, next: 0 }
    }

    /// The node ids, in declaration order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.iter().map(|(id, _)| id)
    }

    /// The statuses, in declaration order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = NodeStatus> + '_ {
        self.statuses.iter().copied()
    }

    /// The statuses as a map from node id, sorted by id.
    pub fn to_map(&self) -> BTreeMap<String, NodeStatus> {
        self.iter().map(|(id, s)| (id.to_owned(), s)).collect()
    }
}

impl<'a> IntoIterator for &'a NodeStatuses {
    type Item = (&'a str, NodeStatus);
    type IntoIter = NodeStatusIter<'a>;
    fn into_iter(self) -> NodeStatusIter<'a> {
        self.iter()
    }
}

/// The iterator of `&NodeStatuses`: each node's id and status, in declaration order.
pub struct NodeStatusIter<'a> {
    of: &'a NodeStatuses,
    next: u32,
}

impl<'a> Iterator for NodeStatusIter<'a> {
    type Item = (&'a str, NodeStatus);
    fn next(&mut self) -> Option<Self::Item> {
        let status = *self.of.statuses.get(self.next as usize)?;
        self.next += 1;
        Some((self.of.names.id(self.next - 1), status))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.of.statuses.len() - self.next as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for NodeStatusIter<'_> {}

impl std::ops::Index<&str> for NodeStatuses {
    type Output = NodeStatus;
    /// Node `id`'s status; panics if the pipeline has no such node (as a map's index does).
    fn index(&self, id: &str) -> &NodeStatus {
        match self.names.index(id) {
            Some(i) => &self.statuses[i as usize],
            None => panic!("the pipeline has no node `{id}`"),
        }
    }
}

/// Equal when they hold the same nodes with the same statuses, in any order.
impl PartialEq for NodeStatuses {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(id, s)| other.get(id) == Some(s))
    }
}

impl Eq for NodeStatuses {}

impl PartialEq<BTreeMap<String, NodeStatus>> for NodeStatuses {
    fn eq(&self, other: &BTreeMap<String, NodeStatus>) -> bool {
        self.len() == other.len() && self.iter().all(|(id, s)| other.get(id) == Some(&s))
    }
}

impl PartialEq<NodeStatuses> for BTreeMap<String, NodeStatus> {
    fn eq(&self, other: &NodeStatuses) -> bool {
        other == self
    }
}

impl fmt::Debug for NodeStatuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Some nodes of a pipeline, by id, in the order a run reached them.
///
/// Compares equal to a list of ids (`result.executed == ["b", "c"]`), and iterates as `&str`.
#[derive(Clone)]
pub struct NodeList {
    names: Arc<dyn NodeNames>,
    nodes: Vec<u32>,
}

impl NodeList {
    pub(crate) fn new(names: Arc<dyn NodeNames>, nodes: Vec<u32>) -> Self {
        NodeList { names, nodes }
    }

    /// The nodes' indexes in the graph, in the list's order.
    #[cfg(feature = "postgres")]
    pub(crate) fn indexes(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes.iter().copied()
    }

    /// How many nodes the list holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The ids, in order.
    pub fn iter(&self) -> NodeIdIter<'_> {
        NodeIdIter { of: self, next: 0 }
    }

    /// Whether node `id` is in the list.
    pub fn contains(&self, id: &str) -> bool {
        self.iter().any(|n| n == id)
    }

    /// The ids joined by `separator`.
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }

    /// The ids as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl<'a> IntoIterator for &'a NodeList {
    type Item = &'a str;
    type IntoIter = NodeIdIter<'a>;
    fn into_iter(self) -> NodeIdIter<'a> {
        self.iter()
    }
}

/// The iterator of `&NodeList`: the ids, in order.
pub struct NodeIdIter<'a> {
    of: &'a NodeList,
    next: usize,
}

impl<'a> Iterator for NodeIdIter<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let index = *self.of.nodes.get(self.next)?;
        self.next += 1;
        Some(self.of.names.id(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.of.nodes.len() - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for NodeIdIter<'_> {}

impl PartialEq for NodeList {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for NodeList {}

impl<S: AsRef<str>> PartialEq<[S]> for NodeList {
    fn eq(&self, other: &[S]) -> bool {
        self.iter().eq(other.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for NodeList {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for NodeList {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

impl fmt::Debug for NodeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}
