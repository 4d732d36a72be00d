//! Pictures of a graph: Mermaid (pastes into GitHub) and Graphviz DOT, optionally coloured by the
//! status of each node in a run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::built::Graph;
use super::counts::ItemCounts;
use super::signature::{GraphSignature, NodeSignature};
use crate::result::NodeStatus;

/// How a node of a run is drawn: the class and colours of its status. Implemented by
/// [`NodeStatus`] (what a run's result tells) and by the store's `NodeState`, which also tells a
/// node running now from the attempt a dead process left with no outcome.
pub trait NodeLook: Copy + PartialEq {
    /// The class a picture gives the node: `completed`, `failed`, `no_outcome`, ...
    fn code(self) -> &'static str;
    /// Its status as words, for a tooltip: `not run`, `started, no outcome`.
    fn label(self) -> &'static str;
    /// Fill and stroke colours.
    fn colours(self) -> (&'static str, &'static str);
    /// Its place in a picture's legend.
    fn rank(self) -> usize;
}

impl NodeLook for NodeStatus {
    fn code(self) -> &'static str {
        NodeStatus::code(self)
    }
    fn label(self) -> &'static str {
        NodeStatus::label(self)
    }
    fn colours(self) -> (&'static str, &'static str) {
        colours(self)
    }
    fn rank(self) -> usize {
        match self {
            NodeStatus::Completed => 0,
            NodeStatus::Failed => 1,
            NodeStatus::Skipped => 2,
            NodeStatus::NotRun => 3,
            NodeStatus::Waiting => 4,
            NodeStatus::Cached => 5,
        }
    }
}

/// What a picture shows of a run: each node's status, and each mapped node's item counts.
type Run<'a, S> = Option<(
    &'a BTreeMap<String, S>,
    Option<&'a BTreeMap<String, ItemCounts>>,
)>;

/// The label line of a node's output, or, for a mapped node, of its items: `×each` without a
/// run, its counts with one.
fn items_text<S>(node: &NodeSignature, run: Run<'_, S>) -> Option<String> {
    node.each?;
    let counts = run.and_then(|(_, counts)| counts?.get(&node.id));
    Some(counts.map_or_else(|| "×each".to_owned(), ToString::to_string))
}

/// Fill and stroke colours per status.
pub(crate) fn colours(status: NodeStatus) -> (&'static str, &'static str) {
    match status {
        NodeStatus::Completed => ("#d3f9d8", "#2b8a3e"),
        NodeStatus::Failed => ("#ffe3e3", "#c92a2a"),
        NodeStatus::Skipped => ("#f1f3f5", "#868e96"),
        NodeStatus::NotRun => ("#ffffff", "#adb5bd"),
        NodeStatus::Waiting => ("#fff3bf", "#e67700"),
        // Teal, apart from completed's green: reused, not run.
        NodeStatus::Cached => ("#c3fae8", "#087f5b"),
    }
}

/// What an edge carries: an argument, the list a mapped node runs over, or a condition input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Argument,
    Each,
    Condition,
}

/// The edges of a signature: `(from, to, kind)`, arguments first, each pair once.
fn edges(signature: &GraphSignature) -> Vec<(&str, &str, Edge)> {
    let mut edges = Vec::new();
    for node in &signature.nodes {
        let mut seen: Vec<&str> = Vec::new();
        for (k, from) in node.inputs.iter().enumerate() {
            if !seen.contains(&from.as_str()) {
                seen.push(from);
                let kind = match node.each == Some(k) {
                    true => Edge::Each,
                    false => Edge::Argument,
                };
                edges.push((from.as_str(), node.id.as_str(), kind));
            }
        }
        for from in &node.condition_inputs {
            edges.push((from.as_str(), node.id.as_str(), Edge::Condition));
        }
    }
    edges
}

impl GraphSignature {
    /// A Mermaid flowchart of the graph: inputs as parallelograms, nodes as boxes labelled with
    /// their id, fn and output type; condition inputs as dotted edges.
    ///
    /// ```
    /// use pipeline::GraphBuilder;
    ///
    /// let mut g = GraphBuilder::<u64>::new("double");
    /// let x = g.input("x", |x: &u64| *x);
    /// let y = g.node("y").run(x, |x, _| async move { Ok::<_, std::io::Error>(x * 2) });
    /// let graph = g.build(y).unwrap();
    /// assert!(graph.to_mermaid().contains("i0 --> n0"));
    /// ```
    pub fn to_mermaid(&self) -> String {
        self.mermaid::<NodeStatus>(None)
    }

    /// [`to_mermaid`](Self::to_mermaid), with each node coloured by its status in a run.
    pub fn to_mermaid_with_status<S: NodeLook>(&self, statuses: &BTreeMap<String, S>) -> String {
        self.mermaid(Some((statuses, None)))
    }

    /// [`to_mermaid_with_status`](Self::to_mermaid_with_status), with each mapped node's item
    /// counts in its box (`×1000: 996 completed, 4 failed`).
    pub fn to_mermaid_with_items<S: NodeLook>(
        &self,
        statuses: &BTreeMap<String, S>,
        items: &BTreeMap<String, ItemCounts>,
    ) -> String {
        self.mermaid(Some((statuses, Some(items))))
    }

    /// A Graphviz DOT digraph of the graph (render with `dot -Tsvg`).
    pub fn to_dot(&self, name: &str) -> String {
        self.dot::<NodeStatus>(name, None)
    }

    /// [`to_dot`](Self::to_dot), with each node filled by its status in a run.
    pub fn to_dot_with_status<S: NodeLook>(
        &self,
        name: &str,
        statuses: &BTreeMap<String, S>,
    ) -> String {
        self.dot(name, Some((statuses, None)))
    }

    /// [`to_dot_with_status`](Self::to_dot_with_status), with each mapped node's item counts.
    pub fn to_dot_with_items<S: NodeLook>(
        &self,
        name: &str,
        statuses: &BTreeMap<String, S>,
        items: &BTreeMap<String, ItemCounts>,
    ) -> String {
        self.dot(name, Some((statuses, Some(items))))
    }

    /// Mermaid ids: `i<k>` for inputs, `n<k>` for nodes (names may hold characters Mermaid reads).
    fn mermaid_ids(&self) -> BTreeMap<&str, String> {
        let inputs = self
            .inputs
            .iter()
            .enumerate()
            .map(|(k, i)| (i.name.as_str(), format!("i{k}")));
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .map(|(k, n)| (n.id.as_str(), format!("n{k}")));
        inputs.chain(nodes).collect()
    }

    fn mermaid<S: NodeLook>(&self, run: Run<'_, S>) -> String {
        let statuses = run.map(|(statuses, _)| statuses);
        let ids = self.mermaid_ids();
        let text = |s: &str| {
            s.replace('"', "#quot;")
                .replace('<', "#lt;")
                .replace('>', "#gt;")
        };
        let mut out = String::from("flowchart TD\n");
        for (k, input) in self.inputs.iter().enumerate() {
            let label = text(&format!("{}: {}", input.name, input.type_name));
            let _ = writeln!(out, "    i{k}[/\"{label}\"/]");
        }
        for (k, node) in self.nodes.iter().enumerate() {
            let mut label = format!(
                "{} = {}()<br/>{}",
                text(&node.id),
                text(&node.kind),
                text(&node.output_type)
            );
            if let Some(items) = items_text(node, run) {
                let _ = write!(label, "<br/>{}", text(&items));
            }
            let _ = writeln!(out, "    n{k}[\"{label}\"]");
        }
        for (from, to, kind) in edges(self) {
            let arrow = match kind {
                Edge::Argument => "-->",
                Edge::Each => "-->|each|",
                Edge::Condition => "-.->|if|",
            };
            let _ = writeln!(out, "    {} {arrow} {}", ids[from], ids[to]);
        }
        if let Some(statuses) = statuses {
            let mut shown: Vec<S> = Vec::new();
            for &status in statuses.values() {
                if !shown.contains(&status) {
                    shown.push(status);
                }
            }
            shown.sort_by_key(|s| s.rank());
            for status in shown {
                let members: Vec<&str> = self
                    .nodes
                    .iter()
                    .filter(|n| statuses.get(&n.id) == Some(&status))
                    .map(|n| ids[n.id.as_str()].as_str())
                    .collect();
                if members.is_empty() {
                    continue;
                }
                let (fill, stroke) = status.colours();
                let class = status.code();
                let _ = writeln!(out, "    classDef {class} fill:{fill},stroke:{stroke}");
                let _ = writeln!(out, "    class {} {class}", members.join(","));
            }
        }
        out
    }

    fn dot<S: NodeLook>(&self, name: &str, run: Run<'_, S>) -> String {
        let statuses = run.map(|(statuses, _)| statuses);
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let quote = |s: &str| format!("\"{}\"", escape(s));
        let mut out = format!("digraph {} {{\n", quote(name));
        out.push_str("    rankdir=TB;\n");
        out.push_str("    node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", fontname=\"Helvetica\"];\n");
        out.push_str("    edge [fontname=\"Helvetica\"];\n");
        for input in &self.inputs {
            let label = quote(&format!("{}: {}", input.name, input.type_name));
            let _ = writeln!(
                out,
                "    {} [shape=parallelogram, label={label}];",
                quote(&input.name)
            );
        }
        for node in &self.nodes {
            // `\n` (backslash, n) is DOT's line break inside a label.
            let items = items_text(node, run)
                .map(|items| format!("\\n{}", escape(&items)))
                .unwrap_or_default();
            let label = format!(
                "\"{}\\n{}() -> {}{items}\"",
                escape(&node.id),
                escape(&node.kind),
                escape(&node.output_type)
            );
            let colour = match statuses.and_then(|s| s.get(&node.id)) {
                Some(&status) => {
                    let (fill, stroke) = status.colours();
                    let label = status.label();
                    format!(", fillcolor=\"{fill}\", color=\"{stroke}\", tooltip=\"{label}\"")
                }
                None => String::new(),
            };
            let _ = writeln!(out, "    {} [label={label}{colour}];", quote(&node.id));
        }
        for (from, to, kind) in edges(self) {
            let style = match kind {
                Edge::Argument => "",
                Edge::Each => " [label=\"each\"]",
                Edge::Condition => " [style=dashed, label=\"if\"]",
            };
            let _ = writeln!(out, "    {} -> {}{style};", quote(from), quote(to));
        }
        out.push_str("}\n");
        out
    }
}

impl<I, O> Graph<I, O> {
    /// A Mermaid flowchart of this graph (see [`GraphSignature::to_mermaid`]).
    pub fn to_mermaid(&self) -> String {
        self.signature().to_mermaid()
    }

    /// A Mermaid flowchart coloured by each node's status in a run.
    pub fn to_mermaid_with_status(&self, statuses: &BTreeMap<String, NodeStatus>) -> String {
        self.signature().to_mermaid_with_status(statuses)
    }

    /// A Graphviz DOT digraph of this graph (see [`GraphSignature::to_dot`]).
    pub fn to_dot(&self) -> String {
        self.signature().to_dot(self.name())
    }

    /// A Graphviz DOT digraph filled by each node's status in a run.
    pub fn to_dot_with_status(&self, statuses: &BTreeMap<String, NodeStatus>) -> String {
        self.signature().to_dot_with_status(self.name(), statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::InputSignature;

    fn sales() -> GraphSignature {
        let node =
            |id: &str, kind: &str, ty: &str, inputs: &[&str], condition: &[&str]| NodeSignature {
                each: None,
                id: id.into(),
                kind: kind.into(),
                version: None,
                output_type: ty.into(),
                inputs: inputs.iter().map(|s| s.to_string()).collect(),
                condition_inputs: condition.iter().map(|s| s.to_string()).collect(),
            };
        GraphSignature {
            inputs: vec![InputSignature {
                name: "path".into(),
                type_name: "String".into(),
            }],
            nodes: vec![
                node("orders", "load", "Vec<Order>", &["path"], &[]),
                node("sum", "total", "i64", &["orders"], &[]),
                node("alert", "page_oncall", "bool", &["sum"], &["sum"]),
            ],
        }
    }

    #[test]
    fn mermaid_shows_inputs_nodes_edges_and_conditions() {
        let statuses: BTreeMap<String, NodeStatus> = [
            ("orders".to_string(), NodeStatus::Completed),
            ("sum".to_string(), NodeStatus::Completed),
            ("alert".to_string(), NodeStatus::Skipped),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            sales().to_mermaid_with_status(&statuses),
            "flowchart TD\n    i0[/\"path: String\"/]\n    n0[\"orders = load()<br/>Vec#lt;Order#gt;\"]\n    \
             n1[\"sum = total()<br/>i64\"]\n    n2[\"alert = page_oncall()<br/>bool\"]\n    i0 --> n0\n    \
             n0 --> n1\n    n1 --> n2\n    n1 -.->|if| n2\n    classDef completed fill:#d3f9d8,stroke:#2b8a3e\n    \
             class n0,n1 completed\n    classDef skipped fill:#f1f3f5,stroke:#868e96\n    class n2 skipped\n"
        );
    }

    #[test]
    fn a_mapped_node_is_drawn_once_with_its_item_counts() {
        let mut graph = sales();
        graph.nodes[1].each = Some(0);
        graph.nodes[1].output_type = "Vec<i64>".into();
        let statuses: BTreeMap<String, NodeStatus> = [("sum".to_string(), NodeStatus::Failed)]
            .into_iter()
            .collect();
        let counts = ItemCounts {
            of: 1000,
            completed: 996,
            failed: 4,
            retrying: 0,
            cached: 0,
        };
        let items: BTreeMap<String, ItemCounts> = [("sum".to_string(), counts)].into();
        assert!(
            graph
                .to_mermaid()
                .contains("n1[\"sum = total()<br/>Vec#lt;i64#gt;<br/>×each\"]")
        );
        let mermaid = graph.to_mermaid_with_items(&statuses, &items);
        assert!(
            mermaid.contains(
                "n1[\"sum = total()<br/>Vec#lt;i64#gt;<br/>×1000: 996 completed, 4 failed\"]"
            ),
            "{mermaid}"
        );
        assert_eq!(mermaid.matches("sum = total()").count(), 1);
        assert!(mermaid.contains("n0 -->|each| n1"), "{mermaid}");
        let dot = graph.to_dot_with_items("Sales", &statuses, &items);
        assert!(
            dot.contains("label=\"sum\\ntotal() -> Vec<i64>\\n×1000: 996 completed, 4 failed\""),
            "{dot}"
        );
    }

    #[test]
    fn dot_quotes_names_and_marks_condition_edges() {
        let dot = sales().to_dot("Sales \"daily\"");
        assert!(
            dot.starts_with("digraph \"Sales \\\"daily\\\"\" {\n"),
            "{dot}"
        );
        assert!(
            dot.contains("    \"path\" [shape=parallelogram, label=\"path: String\"];\n"),
            "{dot}"
        );
        assert!(
            dot.contains("    \"orders\" [label=\"orders\\nload() -> Vec<Order>\"];\n"),
            "{dot}"
        );
        assert!(
            dot.contains("    \"sum\" -> \"alert\" [style=dashed, label=\"if\"];\n"),
            "{dot}"
        );
        assert!(dot.ends_with("}\n"));
    }
}
