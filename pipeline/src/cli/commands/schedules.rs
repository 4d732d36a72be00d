//! `schedules`: every schedule of the pipelines compiled in, with its next tick. `scheduler`:
//! fires their ticks until Ctrl-C. `backfill`: starts the runs of a range of past ticks. A
//! `worker` fires the schedules too (see `worker --no-schedules`), and `serve --schedules`.

use std::sync::Arc;

use crate::cli::error::CliError;
use crate::cli::output::outln;
use crate::cli::stored::{configured, find_pipeline};
use crate::cli::table::Table;
use crate::engine::EngineSettings;
use crate::event::NoEvents;
use crate::registry::{self, ScheduleWith};
use crate::schedule::{Scheduled, Scheduler};
use crate::store::{StoreSpec, Stores};
use crate::text::format_ms;

/// A wait of `ms` for people: `850ms`, `12.3s`, `4m05s`, `19h47m`, `3d04h`.
fn until(ms: u64) -> String {
    match ms / 60_000 {
        0..60 => format_ms(ms),
        minutes if minutes < 24 * 60 => format!("{}h{:02}m", minutes / 60, minutes % 60),
        minutes => format!("{}d{:02}h", minutes / (24 * 60), (minutes / 60) % 24),
    }
}

#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Fire only this pipeline's schedules (repeat for several); all compiled in by default.
    #[arg(long = "pipeline")]
    pipelines: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct BackfillArgs {
    /// The pipeline.
    pipeline: String,
    /// The first tick's time: a date (`2026-11-01`, its start in the schedule's time zone) or an
    /// instant (`2026-11-01T03:00:00Z`, `2026-11-01T03:00:00+01:00`).
    #[arg(long)]
    from: String,
    /// The last tick's time: a date (its end) or an instant, as `--from`.
    #[arg(long)]
    to: String,
    /// Which schedule, when the pipeline has several.
    #[arg(long)]
    schedule: Option<String>,
    /// How many runs at once (the pipeline's limits hold too).
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

/// A scheduler over the pipelines named (all compiled in when none), each started `with`.
pub(super) fn scheduler(
    names: &[String],
    settings: &EngineSettings,
    with: impl Fn() -> ScheduleWith,
) -> Result<Scheduler, CliError> {
    let infos = match names.is_empty() {
        true => registry::pipelines(),
        false => names
            .iter()
            .map(|name| find_pipeline(name))
            .collect::<Result<_, _>>()?,
    };
    let mut scheduler = Scheduler::new();
    for info in infos {
        configured(info, settings).schedule(&mut scheduler, with())?;
    }
    Ok(scheduler)
}

/// Where the runs of a store's schedules start: on the fleet for a PostgreSQL store (opened
/// once, shared by every pipeline), in this process otherwise.
pub(super) fn with(spec: &StoreSpec, stores: &Stores) -> Result<ScheduleWith, CliError> {
    #[cfg(feature = "postgres")]
    if let StoreSpec::Postgres(url) = spec {
        return Ok(ScheduleWith::Fleet(crate::store::PostgresStore::open(url)?));
    }
    let _ = spec;
    Ok(ScheduleWith::Stores(stores.clone(), Arc::new(NoEvents)))
}

/// `schedules`: the table of schedules, each with its next tick.
pub(super) fn list(settings: &EngineSettings) -> Result<i32, CliError> {
    let memory = Stores {
        checkpointer: Arc::new(crate::store::InMemoryCheckpointer::new()),
        audit: Arc::new(crate::store::InMemoryAuditLog::new()),
    };
    let scheduler = scheduler(&[], settings, || {
        ScheduleWith::Stores(memory.clone(), Arc::new(NoEvents))
    })?;
    let schedules = scheduler.schedules();
    if schedules.is_empty() {
        outln!("no pipeline compiled in has a schedule");
        return Ok(0);
    }
    let now = crate::store::now_ms_signed();
    let mut table = Table::new([
        "PIPELINE",
        "SCHEDULE",
        "CRON",
        "TIME ZONE",
        "MISSED",
        "NEXT",
    ]);
    for Scheduled {
        pipeline,
        name,
        cron,
        missed,
        ..
    } in schedules
    {
        let next = match cron.next_after(now) {
            Some(tick) => {
                let wait = (tick.timestamp_ms() - now).max(0) as u64;
                format!("{tick} (in {})", until(wait))
            }
            None => "never".to_owned(),
        };
        table.row([
            pipeline,
            name,
            cron.expression().to_owned(),
            cron.time_zone().to_owned(),
            missed.to_string(),
            next,
        ]);
    }
    outln!("{table}");
    Ok(0)
}

/// `scheduler`: fires the ticks until Ctrl-C.
pub(super) async fn run(
    args: RunArgs,
    spec: &StoreSpec,
    stores: Stores,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    stores.checkpointer.check().await?;
    let with = with(spec, &stores)?;
    let scheduler = scheduler(&args.pipelines, settings, || with.clone())?;
    let names: Vec<String> = scheduler
        .schedules()
        .iter()
        .map(|s| format!("{}/{}", s.pipeline, s.name))
        .collect();
    if names.is_empty() {
        outln!("no schedule to fire: no pipeline named has one");
        return Ok(0);
    }
    outln!("firing {}; Ctrl-C to stop", names.join(", "));
    scheduler
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    outln!("scheduler stopped");
    Ok(0)
}

/// `backfill`: the runs of the ticks from `--from` to `--to`, with a line per tick as its run
/// ends; exit 1 when one did not complete.
pub(super) async fn backfill(
    args: BackfillArgs,
    spec: &StoreSpec,
    stores: Stores,
    settings: &EngineSettings,
) -> Result<i32, CliError> {
    stores.checkpointer.check().await?;
    let names = std::slice::from_ref(&args.pipeline);
    let with = with(spec, &stores)?;
    let scheduler = scheduler(names, settings, || with.clone())?;
    let cron = scheduler.cron_of(&args.pipeline, args.schedule.as_deref())?;
    let from = cron.instant(&args.from, false)?;
    let to = cron.instant(&args.to, true)?;
    let range = (from, to);
    let done = scheduler
        .backfill(
            &args.pipeline,
            args.schedule.as_deref(),
            range,
            args.parallel,
            |tick, so_far| {
                let ended = so_far.completed + so_far.not_completed;
                let how = match &tick.run {
                    Ok(run) => format!(
                        "{}run {} {}",
                        if run.found { "found " } else { "" },
                        run.run_id,
                        run.status.map_or("submitted".to_owned(), |s| s.to_string())
                    ),
                    Err(error) => format!("not started: {error}"),
                };
                outln!("[{ended}/{}] {}  {how}", so_far.ticks, tick.tick);
            },
        )
        .await?;
    outln!(
        "backfill of {} ticks: {} completed, {} not completed{}",
        done.ticks,
        done.completed,
        done.not_completed,
        match done.not_completed {
            0 => "",
            _ => " (the same command again resumes interrupted runs; `resume RUN` a failed one)",
        }
    );
    Ok(if done.not_completed == 0 { 0 } else { 1 })
}
