//! The run page's pictures, drawn on the server as SVG: the DAG, in the layered layout of
//! `layout.rs` (edges routed between boxes, crossings reduced), and the timeline of every
//! attempt on one time axis. No JavaScript library draws anything.

use std::fmt::Write;

use super::codes::node_label;
use super::detail::{NodeDetail, RunDetail};
use super::html::escape;

use super::layout::{BOX_H, BOX_W, PAD, layout, path};

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
    let (width, height) = (layout.width, layout.height);
    // The page fits the graph to its width (CSS `max-width: 100%`), down to 40 %.
    let min = width * 2 / 5;
    let mut svg = String::with_capacity(run.nodes.len() * 400);
    let _ = write!(
        svg,
        "<svg id=\"dag\" class=\"dag\" width=\"{width}\" height=\"{height}\" \
         style=\"min-width:{min}px\" \
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><g class=\"edges\">"
    );
    for route in &layout.routes {
        let class = if route.gate { " gate" } else { "" };
        let _ = write!(
            svg,
            "<path class=\"edge{class}\" d=\"{}\"/>",
            path(&layout, route)
        );
    }
    svg.push_str("</g><g class=\"nodes\">");
    for (i, node) in run.nodes.iter().enumerate() {
        let (x, y) = layout.at[i];
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
    // A backoff that has not ended yet (an interrupted run) still shows whole.
    let end = attempts
        .map(|a| a.finished_at_ms.max(a.retry_at_ms.unwrap_or(0)))
        .max();
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
         viewBox=\"0 0 {width} {height}\" xmlns=\"http://www.w3.org/2000/svg\"><g class=\"ticks\">"
    );
    // The time axis: a tick every 1, 2 or 5 times a power of ten, about eight in all.
    let step = tick_step(end.saturating_sub(start));
    let mut at = 0;
    while at <= end.saturating_sub(start) {
        let x = scale(at as f64);
        let _ = write!(
            svg,
            "<line class=\"tick\" x1=\"{x:.1}\" y1=\"14\" x2=\"{x:.1}\" y2=\"{height}\"/>\
             <text class=\"axis\" x=\"{x:.1}\" y=\"11\" text-anchor=\"middle\">{}</text>",
            escape(&crate::text::format_ms(at)),
        );
        at += step;
    }
    svg.push_str("</g>");
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
            // A retried attempt's backoff: from its end to when the retry was due.
            if let Some(retry) = attempt.retry_at_ms.filter(|&r| r > attempt.finished_at_ms) {
                let (x1, x2) = (x_end, scale(retry.saturating_sub(start) as f64));
                let _ = write!(
                    svg,
                    "<g class=\"backoff\"><title>{id}{item} attempt {n}: retried after a backoff \
                     of {wait}</title><line x1=\"{x1:.1}\" y1=\"{mid}\" x2=\"{x2:.1}\" y2=\"{mid}\"/></g>",
                    n = attempt.attempt,
                    wait = escape(&crate::text::format_ms(retry - attempt.finished_at_ms)),
                    mid = y + 7,
                );
            }
        }
        svg.push_str("</g>");
    }
    svg.push_str("</svg>");
    svg
}

/// The axis' tick spacing in ms for a timeline `span` ms long: 1, 2 or 5 times a power of ten,
/// about eight ticks in all.
fn tick_step(span: u64) -> u64 {
    let rough = (span / 8).max(1);
    let mut power = 1;
    while power * 10 <= rough {
        power *= 10;
    }
    [1, 2, 5, 10]
        .into_iter()
        .map(|m| m * power)
        .find(|&step| step >= rough)
        .unwrap_or(10 * power)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::detail::Attempt;

    #[test]
    fn a_finish_stored_before_its_start_draws_as_an_instant() {
        let attempt = |started, finished| Attempt::failed_for_test(started, finished, "<b>x</b>");
        let run = RunDetail::failed_for_test(vec![NodeDetail::for_test(
            "<a>",
            &[],
            vec![attempt(1_000, 900), attempt(900, 950)],
        )]);
        let svg = timeline_svg(&run);
        assert!(svg.contains("recorded after 0 ms"), "{svg}");
        assert!(svg.contains("&lt;a&gt;") && !svg.contains("<a>"), "{svg}");
        assert!(dag_svg(&run).contains("data-node=\"&lt;a&gt;\""));
    }

    #[test]
    fn the_axis_ticks_every_one_two_or_five_of_a_power_of_ten() {
        assert_eq!(tick_step(0), 1);
        assert_eq!(tick_step(80), 10);
        assert_eq!(tick_step(1_000), 200);
        assert_eq!(tick_step(9_000), 2_000);
        assert_eq!(tick_step(3_600_000), 500_000);
    }
}
