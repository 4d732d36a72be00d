//! The top of a run's page, what an operator looks at first: why it failed (each failed node
//! with its last error), what it waits for (each wait, since when, until when), and its inputs.

use std::fmt::Write;

use serde_json::value::RawValue;

use super::detail::RunDetail;
use super::html::escape;
use crate::result::WaitingOn;
use crate::text::{clip, format_ago, format_time};

/// The most of an error or of the inputs shown here (the node panel has the rest).
const MOST: usize = 1_200;

/// The most failed nodes listed here: a run that failed in many places lists the first, so the
/// graph stays near the top.
const FAILURES: usize = 5;

/// What the page shows first about `run`: `output` (a completed run's, when the pipeline is
/// compiled in), why it failed, what it waits for (`waiting`), and its `inputs`.
pub(super) fn glance(
    run: &RunDetail,
    output: Option<&RawValue>,
    inputs: &RawValue,
    waiting: &[WaitingOn],
    now: u64,
) -> String {
    let mut out = String::from("<section id=\"glance\" class=\"glance\">");
    if let Some(output) = output {
        let _ = write!(
            out,
            "<div class=\"output\"><strong>Output</strong><pre>{}</pre></div>",
            escape(&clip(&pretty(output), MOST))
        );
    }
    let failed: Vec<_> = run.nodes.iter().filter(|n| n.status == "failed").collect();
    for node in failed.iter().take(FAILURES) {
        let last = node.attempts.iter().rev().find(|a| a.status == "failed");
        let error = last
            .and_then(|a| a.error.as_deref())
            .unwrap_or("(no error recorded)");
        let attempts = last.map_or(String::new(), |a| match a.item {
            Some(item) => format!(" (item {item}, attempt {})", a.attempt),
            None => format!(" (attempt {})", a.attempt),
        });
        let _ = write!(
            out,
            "<div class=\"failure\"><p><strong>Failed at <button class=\"link\" data-open=\"{id}\">\
             {id}</button></strong>{attempts}</p><pre class=\"error\">{error}</pre></div>",
            id = escape(&node.id),
            error = escape(&clip(error, MOST)),
        );
    }
    if failed.len() > FAILURES {
        let _ = write!(
            out,
            "<p class=\"more\">and {} more failed nodes (red in the graph)</p>",
            failed.len() - FAILURES
        );
    }
    for wait in waiting {
        let what = match wait.timer {
            true => format!("the timer <code>{}</code>", escape(&wait.wait)),
            false => format!("the signal <code>{}</code>", escape(&wait.wait)),
        };
        let until = match (wait.deadline_ms, wait.timer) {
            (Some(at), true) => format!(", due {} UTC ({})", format_time(at), until(at, now)),
            (Some(at), false) => format!(
                "; it times out {} UTC ({})",
                format_time(at),
                until(at, now)
            ),
            (None, _) => ", with no deadline".to_owned(),
        };
        let _ = write!(
            out,
            "<p class=\"wait\" data-wait=\"{wait_id}\">Waiting: {what}, since {since}{until}</p>",
            wait_id = escape(&wait.wait),
            since = format_ago(wait.began_at_ms, now),
        );
    }
    let _ = write!(
        out,
        "<details class=\"inputs\" open><summary>Inputs</summary><pre>{}</pre></details></section>",
        escape(&clip(&pretty(inputs), MOST))
    );
    out
}

/// `json` indented, as people read it.
fn pretty(json: &RawValue) -> String {
    serde_json::from_str::<serde_json::Value>(json.get())
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.get().to_owned())
}

/// How far `at` is from `now`: `in 47 h`, or `passed 3 min ago` for a deadline that passed.
fn until(at: u64, now: u64) -> String {
    if at < now {
        return format!("passed {}", format_ago(at, now));
    }
    // The same words as for a time past, the other way round.
    match format_ago(now, at).strip_suffix(" ago") {
        Some(left) => format!("in {left}"),
        None => "now".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::detail::{Attempt, NodeDetail, RunDetail};

    #[test]
    fn a_run_that_failed_in_many_places_lists_the_first_five() {
        let node = |i: usize| NodeDetail {
            status: "failed",
            ..NodeDetail::for_test(
                &format!("n{i}"),
                &[],
                vec![Attempt::failed_for_test(0, 0, &format!("<error {i}>"))],
            )
        };
        let run = RunDetail::failed_for_test((0..8).map(node).collect());
        let inputs = serde_json::value::RawValue::from_string("{}".to_owned()).unwrap();
        let html = super::glance(&run, None, &inputs, &[], 0);
        assert_eq!(html.matches("class=\"failure\"").count(), 5);
        assert!(
            html.contains("&lt;error 4&gt;") && !html.contains("error 5"),
            "{html}"
        );
        assert!(html.contains("and 3 more failed nodes"), "{html}");
    }

    #[test]
    fn a_deadline_reads_forwards_and_a_passed_one_backwards() {
        let now = 1_795_887_998_000;
        assert_eq!(super::until(now + 5 * 3_600_000, now), "in 5 h");
        assert_eq!(super::until(now + 47 * 3_600_000, now), "in 1 day");
        assert_eq!(super::until(now + 2_000, now), "now");
        assert_eq!(super::until(now - 180_000, now), "passed 3 min ago");
    }
}
