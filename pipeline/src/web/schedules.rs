//! The schedules of the pipelines compiled in: `/schedules` (a table) and `/api/schedules`
//! (JSON), each with its next tick.

use std::fmt::Write;
use std::sync::Arc;

use axum::Json;
use axum::response::Html;
use serde::Serialize;

use super::html::{escape, page};
use crate::registry::{self, ScheduleWith};
use crate::schedule::Scheduler;
use crate::store::{InMemoryAuditLog, InMemoryCheckpointer, Stores, now_ms_signed};
use crate::text::format_time;

/// One schedule, as the viewer shows it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct ScheduleRow {
    pipeline: String,
    name: String,
    cron: String,
    time_zone: String,
    /// `skip` or `catch up N`.
    missed: String,
    /// The next tick in the schedule's time zone (RFC 9557), if it ticks again.
    next: Option<String>,
    /// The next tick, in milliseconds since the Unix epoch.
    next_ms: Option<i64>,
    /// Or why the schedule cannot fire here (a time zone this system does not know).
    error: Option<String>,
}

/// Every schedule of the pipelines compiled in, in their order.
pub(super) fn rows() -> Vec<ScheduleRow> {
    // Listing starts nothing: the engines are given stores only because a scheduler needs them.
    let stores = Stores {
        checkpointer: Arc::new(InMemoryCheckpointer::new()),
        audit: Arc::new(InMemoryAuditLog::new()),
    };
    let now = now_ms_signed();
    let mut rows = Vec::new();
    for info in registry::pipelines() {
        let mut scheduler = Scheduler::new();
        let with = ScheduleWith::Stores(stores.clone(), Arc::new(crate::event::NoEvents));
        if let Err(error) = (info.pipeline)().schedule(&mut scheduler, with) {
            rows.push(ScheduleRow {
                pipeline: info.name.to_owned(),
                name: String::new(),
                cron: String::new(),
                time_zone: String::new(),
                missed: String::new(),
                next: None,
                next_ms: None,
                error: Some(error.to_string()),
            });
            continue;
        }
        for s in scheduler.schedules() {
            let next = s.cron.next_after(now);
            rows.push(ScheduleRow {
                pipeline: s.pipeline,
                name: s.name,
                cron: s.cron.expression().to_owned(),
                time_zone: s.cron.time_zone().to_owned(),
                missed: s.missed.to_string(),
                next: next.as_ref().map(|t| t.to_string()),
                next_ms: next.map(|t| t.timestamp_ms()),
                error: None,
            });
        }
    }
    rows
}

pub(super) async fn api() -> Json<Vec<ScheduleRow>> {
    Json(rows())
}

pub(super) async fn html() -> Html<String> {
    let rows = rows();
    let mut body = String::from(
        "<h1>Schedules</h1><table id=\"schedules\"><thead><tr><th>pipeline</th>\
         <th>schedule</th><th>cron</th><th>time zone</th><th>missed ticks</th>\
         <th>next tick</th></tr></thead><tbody>",
    );
    for row in &rows {
        let next = match (&row.error, row.next_ms) {
            (Some(error), _) => format!("<span class=\"error\">{}</span>", escape(error)),
            (None, Some(ms)) => format!(
                "{} <span class=\"meta\">({})</span>",
                format_time(ms.max(0) as u64),
                escape(row.next.as_deref().unwrap_or_default())
            ),
            (None, None) => "never".to_owned(),
        };
        let _ = write!(
            body,
            "<tr data-schedule=\"{pipeline}/{name}\"><td><a href=\"/?pipeline={pipeline}\">{pipeline}</a></td>\
             <td>{name}</td><td><code>{cron}</code></td><td>{zone}</td><td>{missed}</td><td>{next}</td></tr>",
            pipeline = escape(&row.pipeline),
            name = escape(&row.name),
            cron = escape(&row.cron),
            zone = escape(&row.time_zone),
            missed = escape(&row.missed),
        );
    }
    body.push_str("</tbody></table>");
    if rows.is_empty() {
        body.push_str("<p class=\"empty\">No pipeline compiled in has a schedule.</p>");
    }
    Html(page("schedules", " data-page=\"schedules\"", &body))
}
