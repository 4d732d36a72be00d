//! What a resumed run gets back from its checkpoint: which stored outputs it needs (the rest is
//! never decoded or held), the completed nodes with their decoded outputs, and the items a
//! mapped node completed before the run stopped.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::data::{Json, Value};
use crate::error::PipelineError;
use crate::graph::{Graph, Slot};
use crate::store::{Checkpoint, OutputFilter, RunHeader, StoredNode};

/// A node completed in a stored run: its index, and its decoded value and stored JSON when a node
/// that will run still needs them.
pub(crate) type Restored = (u32, Option<(Value, Json)>);

/// A mapped node some of whose items completed in a stored run (or all of them, over a list
/// that is computed again): an item of the list it opens on does not run again when a record
/// has its digest.
pub(crate) struct PartialMap {
    pub index: u32,
    /// The completed items by the digest of the item they were computed from: decoded output,
    /// stored JSON. Records without a digest are never reused.
    pub items: HashMap<String, (Value, Json)>,
}

/// What a stored run gives back to resume it.
#[derive(Default)]
pub(crate) struct StoredRun {
    /// The completed nodes.
    pub complete: Vec<Restored>,
    /// The mapped nodes with some items completed.
    pub partial: Vec<PartialMap>,
}

/// Which stored outputs a resume of `graph` needs (see [`OutputFilter`]): the same rule as
/// [`restore`] applies when it decodes them.
pub(crate) fn output_filter<I, O>(graph: &Graph<I, O>) -> OutputFilter {
    let nodes = &graph.inner.nodes;
    let readers = nodes.iter().enumerate().map(|(i, node)| {
        let down = graph.inner.downstream.of(i as u32);
        let ids = down
            .iter()
            .map(|&d| nodes[d as usize].id.as_ref().to_owned());
        (node.id.as_ref().to_owned(), ids.collect())
    });
    let pinned = graph
        .output_nodes()
        .into_iter()
        .map(|i| nodes[i as usize].id.as_ref().to_owned());
    let mapped = nodes
        .iter()
        .filter(|node| node.map.is_some())
        .map(|node| node.id.as_ref().to_owned());
    let lists = nodes.iter().enumerate().filter_map(|(i, node)| {
        let each = node.map.as_ref()?.each;
        match graph.inner.args.of(i as u32).get(each)? {
            Slot::Node(list) => Some((
                node.id.as_ref().to_owned(),
                nodes[*list as usize].id.as_ref().to_owned(),
            )),
            Slot::Input(_) => None,
        }
    });
    OutputFilter::new(readers, pinned)
        .with_mapped(mapped)
        .with_lists(lists)
}

pub(crate) fn graph_changed<I, O>(
    graph: &Graph<I, O>,
    header: &RunHeader,
    changes: Vec<String>,
) -> PipelineError {
    PipelineError::GraphChanged {
        run_id: header.run_id.clone(),
        pipeline: header.pipeline.clone(),
        stored: header.fingerprint.clone(),
        current: graph.fingerprint().to_owned(),
        changes,
    }
}

/// The completed nodes of a stored run, the first record of a node (or of an item) winning; each
/// with its decoded output and JSON when a node that will run (or the pipeline's output) still
/// needs it, and the completed items of mapped nodes that will run again. Outputs nothing will
/// read are not decoded or kept, so resuming holds only the live frontier.
pub(crate) fn restore<I, O>(
    graph: &Graph<I, O>,
    checkpoint: &Checkpoint,
) -> Result<StoredRun, PipelineError> {
    let inner = &graph.inner;
    let stored = checkpoint.stored();
    let mut found = Vec::with_capacity(stored.len());
    for (id, node) in stored {
        let Some(index) = inner.node_index(id) else {
            let change = format!("the checkpoint has a record for unknown node `{id}`");
            return Err(graph_changed(graph, &checkpoint.header, vec![change]));
        };
        let mapped = inner.nodes[index as usize].map.is_some();
        if matches!(node, StoredNode::Items { .. }) && !mapped {
            let change = format!(
                "the checkpoint has item records for node `{id}`, which is not mapped over a list (`each`)"
            );
            return Err(graph_changed(graph, &checkpoint.header, vec![change]));
        }
        found.push((index, node));
    }
    // The same rule the store was given (`output_filter`), so a record it left out (`null`) is
    // never one decoded here.
    let filter = output_filter(graph);
    let recorded: HashSet<String> = found
        .iter()
        .filter(|(_, node)| node.is_complete())
        .map(|&(i, _)| inner.nodes[i as usize].id.as_ref().to_owned())
        .collect();
    let recorded = filter.settled(recorded);
    let mut run = StoredRun::default();
    for (index, node) in found {
        let def = &inner.nodes[index as usize];
        let decode_error = |what: String, source| PipelineError::Decode {
            run_id: checkpoint.header.run_id.clone(),
            what,
            source,
        };
        let needed = filter.needs(&def.id, &recorded);
        if recorded.contains(def.id.as_ref()) {
            let kept = match node.output().filter(|_| needed) {
                Some(json) => {
                    let value = (def.codec.decode)(&json)
                        .map_err(|e| decode_error(format!("output of node `{}`", def.id), e))?;
                    Some((value, json))
                }
                None => None,
            };
            run.complete.push((index, kept));
            continue;
        }
        let (StoredNode::Items { records, .. }, Some(map), true) = (node, &def.map, needed) else {
            continue;
        };
        let mut items = HashMap::new();
        for record in records.into_iter().flatten() {
            let Some(digest) = &record.item_digest else {
                continue;
            };
            if items.contains_key(digest) {
                continue;
            }
            let item = record.item.map_or(0, |item| item.index);
            let value = (map.item_codec.decode)(&record.output).map_err(|e| {
                decode_error(format!("output of item {item} of node `{}`", def.id), e)
            })?;
            items.insert(digest.clone(), (value, Arc::clone(&record.output)));
        }
        run.partial.push(PartialMap { index, items });
    }
    Ok(run)
}
