//! The text exposition format: `# HELP` and `# TYPE` lines, then a line per metric (a
//! histogram's cumulative buckets, sum and count), label values escaped.

use std::fmt::Write;

use super::family::{BUCKETS, Counter, Family, Gauge, Histogram, Labels, NodeSeries};
use super::registry::Registry;

pub(super) fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(64 * 1024);
    counters(&mut out, &registry.runs_started);
    counters(&mut out, &registry.runs_ended);
    nodes(&mut out, &registry.nodes);
    histograms(&mut out, &registry.store_writes);
    gauges(&mut out, &registry.fleet_ready);
    counters(&mut out, &registry.fleet_leases_lost);
    counters(&mut out, &registry.fleet_taken_over);
    counters(&mut out, &registry.fleet_commits_refused);
    out
}

/// What a family's lines are written with: its name, help and label names.
struct Head {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

impl Head {
    fn of<M>(family: &Family<M>) -> Head {
        Head {
            name: family.name,
            help: family.help,
            labels: family.labels,
        }
    }

    fn write(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
    }
}

/// `{a="x",b="y"}`, with `extra` (a name and a value) last; empty without labels.
fn labels(names: &[&str], values: &Labels, extra: Option<(&str, &str)>) -> String {
    let mut out = String::new();
    open_labels(&mut out, names, values);
    match (extra, out.is_empty()) {
        (Some((name, value)), true) => push_label(&mut out, '{', name, value),
        (Some((name, value)), false) => push_label(&mut out, ',', name, value),
        (None, _) => {}
    }
    if !out.is_empty() {
        out.push('}');
    }
    out
}

/// `{a="x",b="y"` (not closed: a histogram's lines add `le`); nothing without labels.
fn open_labels(out: &mut String, names: &[&str], values: &Labels) {
    for (i, (name, value)) in names.iter().zip(values.iter()).enumerate() {
        push_label(out, if i == 0 { '{' } else { ',' }, name, value);
    }
}

fn push_label(out: &mut String, before: char, name: &str, value: &str) {
    out.push(before);
    out.push_str(name);
    out.push_str("=\"");
    escape(out, value);
    out.push('"');
}

/// `value` as the format wants a label value: backslash, double quote and newline escaped.
fn escape(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn gauges(out: &mut String, family: &Family<Gauge>) {
    let each = family.each();
    if each.is_empty() {
        return;
    }
    Head::of(family).write(out, "gauge");
    for (values, gauge) in each {
        let labels = labels(family.labels, &values, None);
        let _ = writeln!(out, "{}{labels} {}", family.name, gauge.get());
    }
}

fn counters(out: &mut String, family: &Family<Counter>) {
    let each = family.each();
    counter_lines(out, &Head::of(family), each.iter().map(|(v, c)| (v, &**c)));
}

/// `family`'s head and a line per counter of `each`; nothing without one.
fn counter_lines<'a>(
    out: &mut String,
    family: &Head,
    each: impl Iterator<Item = (&'a Labels, &'a Counter)>,
) {
    let mut each = each.peekable();
    if each.peek().is_none() {
        return;
    }
    family.write(out, "counter");
    for (values, counter) in each {
        let labels = labels(family.labels, values, None);
        let _ = writeln!(out, "{}{labels} {}", family.name, counter.get());
    }
}

pub(super) fn histograms(out: &mut String, family: &Family<Histogram>) {
    let each = family.each();
    histogram_lines(out, &Head::of(family), each.iter().map(|(v, h)| (v, &**h)));
}

/// `family`'s head and the lines of each histogram of `each`; nothing without one.
fn histogram_lines<'a>(
    out: &mut String,
    family: &Head,
    each: impl Iterator<Item = (&'a Labels, &'a Histogram)>,
) {
    let mut each = each.peekable();
    if each.peek().is_none() {
        return;
    }
    family.write(out, "histogram");
    let name = family.name;
    // `le="…"}` of each bound, written once.
    let bounds: Vec<String> = BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".to_owned()])
        .collect();
    let mut open = String::new();
    for (values, histogram) in each {
        let (cumulative, count, sum) = histogram.snapshot();
        open.clear();
        open_labels(&mut open, family.labels, values);
        let before_le = if open.is_empty() { "{" } else { "," };
        for (bound, n) in bounds.iter().zip(cumulative.into_iter().chain([count])) {
            let _ = writeln!(out, "{name}_bucket{open}{before_le}le=\"{bound}\"}} {n}");
        }
        let plain = if open.is_empty() { "" } else { "}" };
        let _ = writeln!(out, "{name}_sum{open}{plain} {sum}");
        let _ = writeln!(out, "{name}_count{open}{plain} {count}");
    }
}

/// The nodes' three families, from their one metric each.
fn nodes(out: &mut String, family: &Family<NodeSeries>) {
    let each = family.each();
    if each.is_empty() {
        return;
    }
    let labels = family.labels;
    let attempts = Head {
        name: "pipeline_node_attempt_duration_seconds",
        help: "How long the attempts of nodes (and of mapped nodes' items) took, failed ones too.",
        labels,
    };
    let retries = Head {
        name: "pipeline_node_retries_total",
        help: "Failed attempts of nodes that were retried.",
        labels,
    };
    let hits = Head {
        name: "pipeline_node_cache_hits_total",
        help: "Node calls whose output was restored from the result cache.",
        labels,
    };
    histogram_lines(out, &attempts, each.iter().map(|(v, s)| (v, &s.attempts)));
    counter_lines(out, &retries, each.iter().map(|(v, s)| (v, &s.retries)));
    counter_lines(out, &hits, each.iter().map(|(v, s)| (v, &s.cache_hits)));
}
