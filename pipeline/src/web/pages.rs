//! The viewer's HTML pages, rendered on the server: the run list and a run's page. Every value
//! shown is escaped (see [`escape`]); the page's script only follows the run live, fills the
//! node panel from the JSON API (as text) and sends actions.

use std::fmt::Write;

use super::codes::{NODE_CODES, RUN_CODES, is_resumable, node_label, took};
use super::dag::{dag_svg, timeline_svg};
use super::detail::RunDetail;
use super::html::{escape, page, url_part};
use super::index::{RunFilter, RunPage};
use crate::store::now_ms;
use crate::text::{format_ago, format_time, format_took};

/// The run list: filters, a table of runs newest first, and a link to the next page.
pub fn runs_page(list: &RunPage, filter: &RunFilter, pipelines: &[String]) -> String {
    let mut body = String::new();
    body.push_str("<h1>Runs</h1><form class=\"filters\" method=\"get\" action=\"/\">");
    let option = |value: &str, selected: bool| {
        format!(
            "<option value=\"{v}\"{s}>{v}</option>",
            v = escape(value),
            s = if selected { " selected" } else { "" }
        )
    };
    let _ = write!(
        body,
        "<label>pipeline <select name=\"pipeline\"><option value=\"\">any</option>"
    );
    for name in pipelines {
        body.push_str(&option(name, filter.pipeline.as_deref() == Some(name)));
    }
    let _ = write!(
        body,
        "</select></label><label>status <select name=\"status\"><option value=\"\">any</option>"
    );
    for code in RUN_CODES {
        body.push_str(&option(code, filter.status.as_deref() == Some(code)));
    }
    let _ = write!(
        body,
        "</select></label><label>run id <input type=\"search\" name=\"run\" value=\"{}\" \
         placeholder=\"part of an id\" size=\"24\"></label>\
         <button type=\"submit\">filter</button></form>",
        escape(filter.search.as_deref().unwrap_or_default())
    );
    body.push_str(
        "<table id=\"runs\"><thead><tr><th>pipeline</th><th>run id</th><th>status</th>\
         <th>started</th><th>duration</th><th>completed</th><th>failed</th><th>skipped</th>\
         </tr></thead><tbody>",
    );
    let now = now_ms();
    for run in &list.runs {
        let _ = write!(
            body,
            "<tr data-run=\"{id}\" data-status=\"{status}\"><td>{pipeline}</td>\
             <td><a href=\"/runs/{href}\">{id}</a></td><td><span class=\"badge s-{status}\">{status}</span></td>\
             <td>{started}</td><td{live}>{duration}</td><td>{completed}/{nodes}</td><td>{failed}</td><td>{skipped}</td></tr>",
            id = escape(&run.run_id),
            href = url_part(&run.run_id),
            status = run.status,
            pipeline = escape(&run.pipeline),
            started = ago(run.started_at_ms, now),
            live = live(run.status, run.resumed_at_ms.unwrap_or(run.started_at_ms)),
            duration = format_took(
                took(run.status),
                run.resumed_at_ms.unwrap_or(run.started_at_ms),
                run.updated_at_ms,
                now
            ),
            completed = run.completed,
            nodes = run.nodes,
            failed = run.failed,
            skipped = run.skipped,
        );
    }
    body.push_str("</tbody></table>");
    if list.runs.is_empty() {
        body.push_str("<p class=\"empty\">No runs match.</p>");
    }
    if let Some(next) = &list.next {
        let mut query = format!("?before={}", url_part(next));
        if let Some(p) = &filter.pipeline {
            let _ = write!(query, "&pipeline={}", url_part(p));
        }
        if let Some(s) = &filter.status {
            let _ = write!(query, "&status={}", url_part(s));
        }
        if let Some(r) = &filter.search {
            let _ = write!(query, "&run={}", url_part(r));
        }
        let _ = write!(
            body,
            "<p><a id=\"next\" href=\"/{query}\">older runs →</a></p>"
        );
    }
    if !list.unreadable.is_empty() {
        let _ = write!(
            body,
            "<h2>{} run(s) could not be read</h2><ul>",
            list.unreadable.len()
        );
        for line in &list.unreadable {
            let _ = write!(body, "<li>{}</li>", escape(line));
        }
        body.push_str("</ul>");
    }
    page("runs", " data-page=\"runs\"", &body)
}

/// A run's page: its status and actions, the DAG, the timeline and the node panel.
/// `template` gives a wait's payload template, which its signal form starts from.
pub fn run_page(
    run: &RunDetail,
    queued: Option<&crate::store::QueuePlace>,
    glance: &str,
    template: &dyn Fn(&str) -> Option<String>,
) -> String {
    let id = escape(&run.run_id);
    let now = now_ms();
    let mut body = String::with_capacity(run.nodes.len() * 700);
    let _ = write!(
        body,
        "<h1><span class=\"pipeline\">{pipeline}</span> <code>{id}</code> \
         <span id=\"run-status\" class=\"badge s-{status}\">{status}</span></h1>\
         <p class=\"meta\">started {started}{resumed}, last written {updated} (<span id=\"took\"{live}>{duration}</span>)</p>",
        pipeline = escape(&run.pipeline),
        status = run.status,
        started = ago(run.started_at_ms, now),
        resumed = run
            .resumed_at_ms
            .map(|ms| format!(", resumed {}", ago(ms, now)))
            .unwrap_or_default(),
        updated = ago(run.updated_at_ms, now),
        live = live(run.status, run.resumed_at_ms.unwrap_or(run.started_at_ms)),
        duration = format_took(
            took(run.status),
            run.resumed_at_ms.unwrap_or(run.started_at_ms),
            run.updated_at_ms,
            now
        ),
    );
    if let Some(place) = queued {
        let _ = write!(
            body,
            "<p id=\"queued\" class=\"meta\">queued: {}</p>",
            escape(&place.to_string())
        );
    }
    body.push_str("<div class=\"actions\">");
    if is_resumable(run.status) {
        body.push_str("<button data-action=\"resume\">resume</button>");
    }
    if matches!(run.status, "running" | "waiting") {
        body.push_str("<button data-action=\"cancel\">cancel</button>");
    }
    if !run.waiting.is_empty() {
        // Each wait's payload template (its type's fields, each with its smallest value): the
        // form starts from the first, and from another's when it is chosen.
        let templates: Vec<String> = run
            .waiting
            .iter()
            .map(|w| template(w).unwrap_or_else(|| "null".to_owned()))
            .collect();
        body.push_str("<form id=\"signal\"><label>signal <select name=\"wait\">");
        for (wait, template) in run.waiting.iter().zip(&templates) {
            let _ = write!(
                body,
                "<option data-template=\"{}\">{}</option>",
                escape(template),
                escape(wait)
            );
        }
        let _ = write!(
            body,
            "</select></label> <textarea name=\"payload\" rows=\"{rows}\" cols=\"40\" \
             aria-label=\"payload (JSON)\" spellcheck=\"false\">{first}</textarea> \
             <button type=\"submit\">send</button></form>",
            rows = templates
                .first()
                .map_or(1, |t| t.lines().count().clamp(1, 12)),
            first = escape(templates.first().map_or("null", String::as_str)),
        );
    }
    body.push_str("<span id=\"action-result\" role=\"status\"></span></div>");
    if !run.audited {
        body.push_str(
            "<p class=\"note\">This run has no audit trail (it ran without an audit log): \
             attempts, errors and timing are not known.</p>",
        );
    }
    body.push_str(glance);
    body.push_str("<section class=\"graph\"><h2>Graph</h2><div class=\"legend\">");
    for code in NODE_CODES {
        let _ = write!(
            body,
            "<span class=\"badge s-{code}\">{}</span>",
            node_label(code)
        );
    }
    body.push_str(
        "</div><div class=\"zoom\"><button data-zoom=\"out\" title=\"zoom out\">−</button>\
         <button data-zoom=\"fit\" title=\"fit the width\">fit</button>\
         <button data-zoom=\"in\" title=\"zoom in\">+</button> <span id=\"zoom-level\"></span></div>",
    );
    let _ = write!(
        body,
        "<div class=\"scroll graph-box\">{}</div></section>\
         <section class=\"panel\" id=\"panel\" hidden><h2 id=\"panel-title\"></h2>\
         <div id=\"panel-body\"></div></section>\
         <section class=\"time\"><h2>Timeline</h2><div class=\"scroll\">{}</div></section>",
        dag_svg(run),
        timeline_svg(run)
    );
    let attrs = format!(
        " data-page=\"run\" data-run=\"{id}\" data-status=\"{}\"",
        run.status
    );
    page(&format!("{} {}", run.pipeline, run.run_id), &attrs, &body)
}

/// A time as `5 min ago` (kept current by the page's script), the date and time in its tooltip.
fn ago(ms: u64, now: u64) -> String {
    format!(
        "<time class=\"ago\" data-ms=\"{ms}\" title=\"{} UTC\">{}</time>",
        format_time(ms),
        format_ago(ms, now)
    )
}

/// For a running run's duration: the attributes that let the page's script count it up.
fn live(status: &str, since_ms: u64) -> String {
    match status {
        "running" => format!(" class=\"took\" data-since=\"{since_ms}\""),
        _ => String::new(),
    }
}

/// A page that says what went wrong (an unknown run, an unreadable store).
pub fn error_page(title: &str, message: &str) -> String {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        escape(title),
        escape(message)
    );
    page(title, "", &body)
}
