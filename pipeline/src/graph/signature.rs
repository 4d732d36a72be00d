//! The shape of a graph as plain data: stored in every checkpoint header, hashed into the fingerprint,
//! and compared on resume to say exactly what changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;

/// A pipeline input as the checkpoint header records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSignature {
    /// The input's name.
    pub name: String,
    /// The input's Rust type name.
    pub type_name: String,
}

/// A node as the checkpoint header records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSignature {
    /// The node id (the binding name).
    pub id: String,
    /// What the node runs (the `#[node]` fn's name).
    pub kind: String,
    /// The version of what it runs (`#[node(version = "..")]`), if one is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The output's Rust type name.
    pub output_type: String,
    /// The inputs and nodes it reads, in argument order.
    pub inputs: Vec<String>,
    /// The inputs and nodes its condition gate reads (empty without a gate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub condition_inputs: Vec<String>,
    /// For a node mapped over a list (`each`), which of its inputs is the list (an index into
    /// `inputs`); its output type is then the `Vec` of what one item's call returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<usize>,
}

impl NodeSignature {
    /// The inputs as the fingerprint and people read them: the mapped one as `each NAME`.
    pub fn written_inputs(&self) -> Vec<String> {
        let mut inputs = self.inputs.clone();
        if let Some(name) = self.each.and_then(|i| inputs.get_mut(i)) {
            *name = format!("each {name}");
        }
        inputs
    }
}

/// The shape of a pipeline: its inputs and nodes with their edges and types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphSignature {
    /// The pipeline inputs, in declaration order.
    pub inputs: Vec<InputSignature>,
    /// The nodes, in declaration (topological) order.
    pub nodes: Vec<NodeSignature>,
}

impl GraphSignature {
    /// A stable 64-bit FNV-1a hash of the signature, as 16 hex digits. Equal shapes give equal
    /// fingerprints on every platform and in every process.
    pub fn fingerprint(&self) -> String {
        format!("{:016x}", self.fingerprint_hash())
    }

    pub(crate) fn fingerprint_hash(&self) -> u64 {
        let mut fingerprint = Fingerprint::new();
        for input in &self.inputs {
            fingerprint = fingerprint.input(&input.name, &input.type_name);
        }
        for node in &self.nodes {
            fingerprint = fingerprint
                .node(
                    &node.id,
                    &node.kind,
                    &strs(&node.written_inputs()),
                    &strs(&node.condition_inputs),
                    &node.output_type,
                )
                .version(node.version.as_deref().unwrap_or_default());
        }
        fingerprint.finish()
    }

    /// What changed from `stored` (the graph a checkpoint was written by) to `self`, one line per
    /// difference, e.g. "node `n` added" or "node `sum` output type changed from `i64` to `u64`".
    pub fn changes_since(&self, stored: &GraphSignature) -> Vec<String> {
        let mut changes = Vec::new();
        diff_inputs(&stored.inputs, &self.inputs, &mut changes);
        let old: BTreeMap<&str, &NodeSignature> =
            stored.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let new: BTreeMap<&str, &NodeSignature> =
            self.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        for id in old.keys().filter(|id| !new.contains_key(*id)) {
            changes.push(format!("node `{id}` removed"));
        }
        for (id, node) in &new {
            match old.get(id) {
                None => changes.push(format!("node `{id}` added")),
                Some(before) => diff_node(before, node, &mut changes),
            }
        }
        if changes.is_empty() && stored != self {
            changes.push("node order changed".to_owned());
        }
        changes
    }
}

fn strs(names: &[String]) -> Vec<&str> {
    names.iter().map(String::as_str).collect()
}

fn diff_inputs(old: &[InputSignature], new: &[InputSignature], changes: &mut Vec<String>) {
    for input in old.iter().filter(|i| !new.iter().any(|n| n.name == i.name)) {
        changes.push(format!("input `{}` removed", input.name));
    }
    for input in new {
        match old.iter().find(|o| o.name == input.name) {
            None => changes.push(format!("input `{}` added", input.name)),
            Some(o) if o.type_name != input.type_name => changes.push(format!(
                "input `{}` type changed from `{}` to `{}`",
                input.name, o.type_name, input.type_name
            )),
            Some(_) => {}
        }
    }
}

fn diff_node(old: &NodeSignature, new: &NodeSignature, changes: &mut Vec<String>) {
    let id = &new.id;
    if old.kind != new.kind {
        changes.push(format!(
            "node `{id}` now runs `{}` instead of `{}`",
            new.kind, old.kind
        ));
    }
    if old.version != new.version {
        let text =
            |v: &Option<String>| v.as_deref().map_or("none".to_owned(), |v| format!("`{v}`"));
        changes.push(format!(
            "node `{id}` version changed from {} to {} (the code that ran is not the code now: \
             start a new run, or rerun from it with `resume --rerun {id}`)",
            text(&old.version),
            text(&new.version)
        ));
    }
    if old.output_type != new.output_type {
        changes.push(format!(
            "node `{id}` output type changed from `{}` to `{}`",
            old.output_type, new.output_type
        ));
    }
    let (before, after) = (old.written_inputs(), new.written_inputs());
    if before != after {
        changes.push(format!(
            "node `{id}` inputs changed from ({}) to ({})",
            before.join(", "),
            after.join(", ")
        ));
    }
    if old.condition_inputs != new.condition_inputs {
        changes.push(format!("node `{id}` condition changed"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, ty: &str, inputs: &[&str]) -> NodeSignature {
        NodeSignature {
            each: None,
            id: id.into(),
            kind: id.into(),
            version: None,
            output_type: ty.into(),
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            condition_inputs: vec![],
        }
    }

    fn sig(nodes: Vec<NodeSignature>) -> GraphSignature {
        GraphSignature {
            inputs: vec![InputSignature {
                name: "x".into(),
                type_name: "u64".into(),
            }],
            nodes,
        }
    }

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = sig(vec![node("a", "u64", &["x"]), node("b", "u64", &["a"])]);
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_eq!(a.fingerprint().len(), 16);
        let mut retyped = a.clone();
        retyped.nodes[1].output_type = "i64".into();
        assert_ne!(a.fingerprint(), retyped.fingerprint());
        let mut rewired = a.clone();
        rewired.nodes[1].inputs = vec!["x".into()];
        assert_ne!(a.fingerprint(), rewired.fingerprint());
    }

    #[test]
    fn changes_name_what_changed() {
        let old = sig(vec![node("a", "u64", &["x"]), node("b", "u64", &["a"])]);
        let new = sig(vec![node("a", "i64", &["x"]), node("c", "u64", &["a"])]);
        let changes = new.changes_since(&old);
        assert_eq!(
            changes,
            vec![
                "node `b` removed",
                "node `a` output type changed from `u64` to `i64`",
                "node `c` added",
            ]
        );
    }
}
