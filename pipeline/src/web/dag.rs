//! The run page's pictures, drawn on the server as SVG: the DAG, laid out in layers (a node one
//! column right of its deepest upstream node; within a column, nodes ordered by the mean row of
//! their upstream nodes, which keeps edges short and uncrossed for the usual fan-out/fan-in
//! shapes), and the timeline of every attempt on one time axis. Layout is O(nodes + edges) plus
//! a sort per column, so a 10,000-node run draws in milliseconds, with no JavaScript library.

use std::collections::HashMap;
use std::fmt::Write;

use super::codes::node_label;
use super::detail::{NodeDetail, RunDetail};
use super::html::escape;

const BOX_W: u32 = 168;
const BOX_H: u32 = 34;
const COL_GAP: u32 = 64;
const ROW_GAP: u32 = 14;
const PAD: u32 = 12;

/// Where each node is drawn: its column and row.
struct Layout {
    at: Vec<(u32, u32)>,
    columns: u32,
    rows: u32,
}

fn layout(nodes: &[NodeDetail]) -> Layout {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let upstream = |n: &NodeDetail| -> Vec<usize> {
        n.inputs
            .iter()
            .chain(&n.condition_inputs)
            .filter_map(|u| index.get(u.as_str()).copied())
            .collect()
    };
    // Nodes come in topological order, so every upstream node has its column already.
    let mut column = vec![0u32; nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        column[i] = upstream(node)
            .into_iter()
            .filter(|&u| u < i)
            .map(|u| column[u] + 1)
            .max()
            .unwrap_or(0);
    }
    let columns = column.iter().max().map_or(0, |c| c + 1);
    let mut by_column: Vec<Vec<usize>> = vec![Vec::new(); columns as usize];
    for (i, c) in column.iter().enumerate() {
        by_column[*c as usize].push(i);
    }
    let mut row = vec![0u32; nodes.len()];
    for members in &mut by_column {
        let key = |i: usize| -> f64 {
            let ups = upstream(&nodes[i]);
            match ups.is_empty() {
                true => i as f64,
                false => ups.iter().map(|&u| f64::from(row[u])).sum::<f64>() / ups.len() as f64,
            }
        };
        let mut keyed: Vec<(f64, usize)> = members.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (r, (_, i)) in keyed.iter().enumerate() {
            row[*i] = r as u32;
        }
        *members = keyed.into_iter().map(|(_, i)| i).collect();
    }
    let rows = by_column.iter().map(|m| m.len() as u32).max().unwrap_or(0);
    Layout {
        at: column.into_iter().zip(row).collect(),
        columns,
        rows,
    }
}

fn xy((column, row): (u32, u32)) -> (u32, u32) {
    (
        PAD + column * (BOX_W + COL_GAP),
        PAD + row * (BOX_H + ROW_GAP),
    )
}

/// A label that fits its box (the full id is in the box's tooltip and the node panel).
fn short(id: &str) -> String {
    crate::text::clip(id, 19)
}

/// A box's text: the node's id, and for a mapped node its items done of all.
fn label(node: &NodeDetail) -> String {
    match node.items {
        Some([done, of]) => format!("{} {done}/{of}", crate::text::clip(&node.id, 12)),
        None if node.mapped => format!("{} (each)", crate::text::clip(&node.id, 12)),
        None => short(&node.id),
    }
}

/// The DAG of `run` as an SVG element: one `g.node` per node, with `data-node` its id and class
/// `s-<status>`.
pub fn dag_svg(run: &RunDetail) -> String {
    let layout = layout(&run.nodes);
    let width = 2 * PAD + layout.columns * (BOX_W + COL_GAP);
    let height = 2 * PAD + layout.rows.max(1) * (BOX_H + ROW_GAP);
    let index: HashMap<&str, usize> = run
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let mut svg = String::with_capacity(run.nodes.len() * 400);
    let _ = write!(
        svg,
        "<svg id=\"dag\" class=\"dag\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><g class=\"edges\">"
    );
    for (i, node) in run.nodes.iter().enumerate() {
        let (tx, ty) = xy(layout.at[i]);
        let ends = node
            .inputs
            .iter()
            .map(|u| (u, ""))
            .chain(node.condition_inputs.iter().map(|u| (u, " gate")));
        for (from, class) in ends {
            let Some(&u) = index.get(from.as_str()) else {
                continue;
            };
            let (fx, fy) = xy(layout.at[u]);
            let (x1, y1, x2, y2) = (fx + BOX_W, fy + BOX_H / 2, tx, ty + BOX_H / 2);
            let mid = (x1 + x2) / 2;
            let _ = write!(
                svg,
                "<path class=\"edge{class}\" d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\"/>"
            );
        }
    }
    svg.push_str("</g><g class=\"nodes\">");
    for (i, node) in run.nodes.iter().enumerate() {
        let (x, y) = xy(layout.at[i]);
        let id = escape(&node.id);
        let mapped = match node.mapped {
            true => " mapped",
            false => "",
        };
        let _ = write!(
            svg,
            "<g class=\"node s-{status}{mapped}\" data-node=\"{id}\" tabindex=\"0\" \
             transform=\"translate({x},{y})\"><title>{id} ({kind}): {label}</title>\
             <rect width=\"{BOX_W}\" height=\"{BOX_H}\" rx=\"6\"/>\
             <text x=\"10\" y=\"22\">{text}</text></g>",
            status = node.status,
            kind = escape(&node.kind),
            label = node_label(node.status),
            text = escape(&label(node)),
        );
    }
    svg.push_str("</g></svg>");
    svg
}

/// The timeline of `run`: one row per node that has attempts, one bar per attempt (the fn's run
/// solid, the recording of its outcome after it hatched), on a time axis shared by all.
pub fn timeline_svg(run: &RunDetail) -> String {
    const LABEL_W: u32 = 180;
    const PLOT_W: u32 = 900;
    const ROW_H: u32 = 18;
    let rows: Vec<&NodeDetail> = run
        .nodes
        .iter()
        .filter(|n| !n.attempts.is_empty())
        .collect();
    let attempts = rows.iter().flat_map(|n| &n.attempts);
    let start = attempts.clone().map(|a| a.started_at_ms).min();
    let end = attempts.map(|a| a.finished_at_ms).max();
    let (Some(start), Some(end)) = (start, end) else {
        return "<p class=\"empty\">No attempts recorded yet.</p>".to_owned();
    };
    let span = end.saturating_sub(start).max(1) as f64;
    let scale = |ms: f64| f64::from(LABEL_W) + ms / span * f64::from(PLOT_W);
    let height = 24 + rows.len() as u32 * ROW_H;
    let width = LABEL_W + PLOT_W + PAD;
    let mut svg = String::with_capacity(rows.len() * 300);
    let _ = write!(
        svg,
        "<svg id=\"timeline\" class=\"timeline\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\">\
         <text class=\"axis\" x=\"{LABEL_W}\" y=\"12\">0</text>\
         <text class=\"axis\" x=\"{end_x}\" y=\"12\" text-anchor=\"end\">{total}</text>",
        end_x = LABEL_W + PLOT_W,
        total = escape(&crate::text::format_ms(end.saturating_sub(start))),
    );
    for (r, node) in rows.iter().enumerate() {
        let y = 20 + r as u32 * ROW_H;
        let id = escape(&node.id);
        let _ = write!(
            svg,
            "<g class=\"row\" data-node=\"{id}\"><text class=\"label\" x=\"0\" y=\"{ty}\">{text}</text>",
            ty = y + 12,
            text = escape(&short(&node.id)),
        );
        for attempt in &node.attempts {
            let from = attempt.started_at_ms.saturating_sub(start) as f64;
            // Stored times come from clocks: a finish before its start is drawn as an instant.
            let recorded = attempt.finished_at_ms.saturating_sub(attempt.started_at_ms);
            let ran = (attempt.duration_us as f64 / 1000.0).min(recorded as f64);
            let to = from + recorded as f64;
            let (x, x_ran, x_end) = (scale(from), scale(from + ran), scale(to));
            let item = attempt
                .item
                .map(|i| format!(" item {i}"))
                .unwrap_or_default();
            let _ = write!(
                svg,
                "<g class=\"attempt a-{status}\"><title>{id}{item} attempt {n}: {status}, \
                 ran {ran:.1} ms, recorded after {total} ms</title>\
                 <rect class=\"ran\" x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"14\"/>\
                 <rect class=\"persist\" x=\"{x_ran:.1}\" y=\"{y}\" width=\"{pw:.1}\" height=\"14\"/></g>",
                status = attempt.status,
                n = attempt.attempt,
                total = recorded,
                w = (x_ran - x).max(1.0),
                pw = (x_end - x_ran).max(0.0),
            );
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::detail::Attempt;

    fn node(id: &str, inputs: &[&str], attempts: Vec<Attempt>) -> NodeDetail {
        NodeDetail {
            id: id.to_owned(),
            kind: "f".to_owned(),
            status: "completed",
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            condition_inputs: Vec::new(),
            mapped: false,
            items: None,
            attempts,
        }
    }

    #[test]
    fn a_node_is_one_column_right_of_its_deepest_upstream_node() {
        let nodes = vec![
            node("a", &["input"], vec![]),
            node("b", &["a"], vec![]),
            node("c", &["a"], vec![]),
            node("d", &["b", "c", "a"], vec![]),
        ];
        let layout = layout(&nodes);
        let columns: Vec<u32> = layout.at.iter().map(|(c, _)| *c).collect();
        assert_eq!(columns, vec![0, 1, 1, 2]);
        assert_eq!((layout.columns, layout.rows), (3, 2));
    }

    #[test]
    fn a_finish_stored_before_its_start_draws_as_an_instant() {
        let attempt = |started_at_ms, finished_at_ms| Attempt {
            attempt: 1,
            item: None,
            status: "failed",
            started_at_ms,
            finished_at_ms,
            duration_us: 5_000,
            error: Some("<b>x</b>".to_owned()),
            cached_from: None,
            logs: Vec::new(),
            logs_dropped: 0,
        };
        let run = RunDetail {
            run_id: "r".to_owned(),
            pipeline: "p".to_owned(),
            status: "failed",
            started_at_ms: 0,
            resumed_at_ms: None,
            updated_at_ms: 0,
            audited: true,
            nodes: vec![node(
                "<a>",
                &[],
                vec![attempt(1_000, 900), attempt(900, 950)],
            )],
            waiting: Vec::new(),
        };
        let svg = timeline_svg(&run);
        assert!(svg.contains("recorded after 0 ms"), "{svg}");
        assert!(svg.contains("&lt;a&gt;") && !svg.contains("<a>"), "{svg}");
        assert!(dag_svg(&run).contains("data-node=\"&lt;a&gt;\""));
    }
}
