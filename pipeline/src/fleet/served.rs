//! The graphs a worker serves, by fingerprint (each a [`ServedGraph`]: its types erased).

use std::collections::HashMap;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::graph::{Graph, ServedGraph};

/// The graphs a worker serves, by fingerprint.
#[derive(Clone, Default)]
pub(crate) struct Served {
    graphs: HashMap<String, Arc<dyn ServedGraph>>,
}

impl Served {
    pub fn add<I, O>(&mut self, graph: &Graph<I, O>)
    where
        I: DeserializeOwned + Send + Sync + 'static,
        O: Send + 'static,
    {
        self.insert(graph.inner.clone());
    }

    pub fn insert(&mut self, graph: Arc<dyn ServedGraph>) {
        self.graphs.insert(graph.fingerprint().to_owned(), graph);
    }

    pub fn get(&self, fingerprint: &str) -> Option<&Arc<dyn ServedGraph>> {
        self.graphs.get(fingerprint)
    }

    pub fn fingerprints(&self) -> Vec<String> {
        self.graphs.keys().cloned().collect()
    }

    /// The pipelines' names and fingerprints, pairwise.
    pub fn served(&self) -> (Vec<String>, Vec<String>) {
        self.graphs
            .iter()
            .map(|(fingerprint, graph)| (graph.name().to_owned(), fingerprint.clone()))
            .unzip()
    }

    /// The names of the pipelines served, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.graphs.values().map(|g| g.name().to_owned()).collect();
        names.sort();
        names.dedup();
        names
    }

    /// The nodes with a limit, in one order for every worker (the order their locks are taken).
    pub fn limited(&self) -> Vec<super::limits::Limited> {
        let mut limited: Vec<_> = self
            .graphs
            .values()
            .flat_map(|g| super::limits::Limited::of(&**g))
            .collect();
        limited.sort();
        limited
    }

    pub fn is_empty(&self) -> bool {
        self.graphs.is_empty()
    }
}
