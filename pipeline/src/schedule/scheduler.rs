//! The scheduler: fires the ticks of the schedules of the pipelines given to it, each tick's run
//! started with the tick as its idempotency key; and backfills, which start the runs of a range
//! of past ticks the same way.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::cron::{Cron, Missed, ScheduleError, Tick};
use crate::definition::Pipeline;
use crate::engine::{PipelineEngine, RunOptions};
use crate::error::PipelineError;
use crate::result::RunStatus;
use crate::run_id::RunId;

/// What starting a tick's run gave.
type Started = Result<TickRun, PipelineError>;

/// The run of a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickRun {
    /// Its id.
    pub run_id: RunId,
    /// How it ended, when the start waited for it (a fleet run that was only submitted: `None`).
    pub status: Option<RunStatus>,
    /// Whether another start made it (a scheduler fired the tick, or an earlier backfill did):
    /// this start found it and followed it, and ran nothing of its own.
    pub found: bool,
}

/// Starts the run of a tick; `true`: wait for its end (a fleet run is only submitted otherwise).
type Fire = Arc<dyn Fn(Tick, bool) -> Pin<Box<dyn Future<Output = Started> + Send>> + Send + Sync>;

/// The most ticks one backfill starts runs for: a range with more is refused, not held in
/// memory (split it).
pub const MAX_BACKFILL: usize = 100_000;

/// One schedule of one pipeline, as a scheduler fires it.
#[derive(Clone)]
struct Entry {
    pipeline: Arc<str>,
    name: Arc<str>,
    cron: Cron,
    missed: Missed,
    fire: Fire,
}

/// A schedule a [`Scheduler`] fires: its pipeline, name, cron expression and missed-tick policy.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Scheduled {
    /// The pipeline's name.
    pub pipeline: String,
    /// The schedule's name.
    pub name: String,
    /// Its cron expression and time zone.
    pub cron: Cron,
    /// What it does with missed ticks.
    pub missed: Missed,
}

/// Fires the ticks of the schedules of the pipelines [added](Scheduler::add) to it, until told
/// to stop ([`run`](Scheduler::run)); or starts the runs of a range of ticks
/// ([`backfill`](Scheduler::backfill)).
///
/// Each tick's run is started with the tick as its idempotency key ([`super::Schedule::key`]):
/// any number of schedulers may run over one store (in several processes or machines, killed
/// and restarted), and each tick still has one run. In one process a scheduler runs the tick's
/// run itself, and a scheduler that finds the tick's run started by another follows it to its
/// end (resuming it if its process died); an engine on a fleet (`PipelineEngine::fleet`)
/// submits the run to the workers.
///
/// ```no_run
/// # use pipeline::prelude::*;
/// # use pipeline::schedule::{Schedule, Scheduler};
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let mut g = GraphBuilder::<String>::new("nightly");
/// let day = g.input("day", |day: &String| day.clone());
/// let report = g.node("report").run(day, |day, _| async move { Ok::<_, std::io::Error>(day) });
/// g.schedule(Schedule::new("at-3", "0 3 * * *", "Europe/Paris", |tick| tick.date())?);
/// let graph = g.build(report)?;
///
/// let engine = PipelineEngine::new(graph).checkpointer(Stores::open("runs")?.checkpointer);
/// let mut scheduler = Scheduler::new();
/// scheduler.add(std::sync::Arc::new(engine))?;
/// scheduler.run(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Default)]
pub struct Scheduler {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.schedules()).finish()
    }
}

/// One tick of a backfill, as it ended.
#[derive(Debug)]
#[non_exhaustive]
pub struct BackfillTick {
    /// The tick.
    pub tick: Tick,
    /// Its run (started now, or found: the run another start made for the tick), and how it
    /// ended; or why it could not be started.
    pub run: Result<TickRun, PipelineError>,
}

/// What a [backfill](Scheduler::backfill) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backfill {
    /// The ticks in the range.
    pub ticks: usize,
    /// Those whose run completed.
    pub completed: usize,
    /// Those whose run ended otherwise (failed, cancelled, waiting), or could not be started.
    pub not_completed: usize,
}

impl Scheduler {
    /// A scheduler with no schedule.
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// Adds every schedule of `engine`'s pipeline. Its runs are started with `engine`: in this
    /// process, or on its fleet. The engine needs a checkpointer, where the ticks' keys are
    /// claimed; [`ScheduleError::NoCheckpointer`] otherwise, and the error of a schedule whose
    /// time zone the system does not know.
    pub fn add<P: Pipeline>(
        &mut self,
        engine: Arc<PipelineEngine<P>>,
    ) -> Result<&mut Scheduler, ScheduleError> {
        let graph = &engine.graph;
        if let Some(error) = graph.inner.schedules.errors.first() {
            return Err(error.clone());
        }
        if !graph.inner.schedules.list.is_empty() && engine.checkpointer.is_none() {
            return Err(ScheduleError::NoCheckpointer(graph.name().to_owned()));
        }
        for schedule in &graph.inner.schedules.list {
            let (engine, of) = (Arc::clone(&engine), schedule.clone());
            let fire: Fire = Arc::new(move |tick, wait| {
                let (engine, inputs) = (Arc::clone(&engine), of.inputs(&tick));
                let options = RunOptions::new()
                    .idempotency_key(of.key(&tick))
                    .key_retention(of.key_retention(&tick));
                Box::pin(async move { start(&engine, inputs, options, wait).await })
            });
            self.entries.push(Entry {
                pipeline: Arc::from(graph.name()),
                name: Arc::from(schedule.name()),
                cron: schedule.cron().clone(),
                missed: schedule.missed_ticks(),
                fire,
            });
        }
        Ok(self)
    }

    /// The schedules it fires.
    pub fn schedules(&self) -> Vec<Scheduled> {
        self.entries
            .iter()
            .map(|e| Scheduled {
                pipeline: e.pipeline.to_string(),
                name: e.name.to_string(),
                cron: e.cron.clone(),
                missed: e.missed,
            })
            .collect()
    }

    /// Fires every tick of its schedules until `stop` completes: each on time, and the ticks
    /// missed before it started (or while it was suspended) as each schedule's [`Missed`] says.
    /// A run this process runs is left as it is when `stop` completes (interrupted, if it had
    /// not ended: another scheduler, or the next one here, resumes it when it comes to its
    /// tick, and `resume` can).
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut running = tokio::task::JoinSet::new();
        // Per schedule: every tick at or before this was fired (or judged missed).
        let mut seen: Vec<Option<i64>> = vec![None; self.entries.len()];
        loop {
            let now = crate::store::now_ms_signed();
            let mut wake: Option<i64> = None;
            for (entry, seen) in self.entries.iter().zip(seen.iter_mut()) {
                for tick in entry.due(*seen, now) {
                    tracing::info!(pipeline = %entry.pipeline, schedule = %entry.name, %tick, "tick");
                    running.spawn(log_end(entry.clone(), tick));
                }
                *seen = Some(now);
                if let Some(next) = entry.cron.next_after(now) {
                    let at = next.timestamp_ms();
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                }
            }
            let Some(wake) = wake else {
                // No schedule will tick again: wait for the runs, or the stop.
                tokio::select! {
                    _ = &mut stop => return,
                    _ = async { while running.join_next().await.is_some() {} } => {
                        stop.await;
                        return;
                    }
                }
            };
            let sleep = Duration::from_millis((wake - now).max(0) as u64);
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(sleep) => {}
                // Reap the runs that ended, then sleep on.
                Some(_) = running.join_next(), if !running.is_empty() => {}
            }
        }
    }

    /// Starts the run of every tick of schedule `schedule` of pipeline `pipeline` from `from_ms`
    /// to `to_ms` (both included), at most `parallel` at once, and waits for each to end.
    /// `on_tick` sees each tick as its run ends. A tick that already has a run (a scheduler
    /// fired it, or an earlier backfill did) is not run again: its run is followed. So a
    /// backfill that was stopped is resumed by starting it again. Runs keep the pipeline's
    /// limits. `schedule` may be `None` when the pipeline has one schedule.
    pub async fn backfill(
        &self,
        pipeline: &str,
        schedule: Option<&str>,
        (from_ms, to_ms): (i64, i64),
        parallel: usize,
        mut on_tick: impl FnMut(&BackfillTick, &Backfill),
    ) -> Result<Backfill, ScheduleError> {
        let entry = self.entry(pipeline, schedule)?;
        let ticks: Vec<Tick> = entry
            .cron
            .between(from_ms, to_ms)
            .take(MAX_BACKFILL + 1)
            .collect();
        if ticks.len() > MAX_BACKFILL {
            return Err(ScheduleError::TooManyTicks {
                pipeline: pipeline.to_owned(),
                most: MAX_BACKFILL,
            });
        }
        let mut done = Backfill {
            ticks: ticks.len(),
            ..Backfill::default()
        };
        let runs = ticks.into_iter().map(|tick| {
            let fire = Arc::clone(&entry.fire);
            async move {
                let run = fire(tick.clone(), true).await;
                BackfillTick { tick, run }
            }
        });
        let mut runs = futures_util::stream::iter(runs).buffered(parallel.max(1));
        while let Some(ended) = runs.next().await {
            match &ended.run {
                Ok(TickRun {
                    status: Some(RunStatus::Completed),
                    ..
                }) => done.completed += 1,
                _ => done.not_completed += 1,
            }
            on_tick(&ended, &done);
        }
        Ok(done)
    }

    /// The cron expression of schedule `schedule` of pipeline `pipeline` (`None`: its only one).
    pub fn cron_of(&self, pipeline: &str, schedule: Option<&str>) -> Result<&Cron, ScheduleError> {
        self.entry(pipeline, schedule).map(|e| &e.cron)
    }

    fn entry(&self, pipeline: &str, schedule: Option<&str>) -> Result<&Entry, ScheduleError> {
        let of: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| &*e.pipeline == pipeline)
            .collect();
        let names = || of.iter().map(|e| e.name.to_string()).collect();
        match (schedule, of.as_slice()) {
            (None, [one]) => Ok(one),
            (Some(name), _) => of
                .iter()
                .copied()
                .find(|e| &*e.name == name)
                .ok_or_else(|| ScheduleError::UnknownSchedule {
                    pipeline: pipeline.to_owned(),
                    name: Some(name.to_owned()),
                    known: names(),
                }),
            (None, _) => Err(ScheduleError::UnknownSchedule {
                pipeline: pipeline.to_owned(),
                name: None,
                known: names(),
            }),
        }
    }
}

impl Entry {
    fn due(&self, after_ms: Option<i64>, now_ms: i64) -> Vec<Tick> {
        crate::cron::due(&self.cron, self.missed, after_ms, now_ms)
    }
}

/// Starts the run of `inputs` with `options` (a tick's key): in this process to its end, or on
/// the engine's fleet (waiting for its end when `wait`).
async fn start<P: Pipeline>(
    engine: &PipelineEngine<P>,
    inputs: P::Inputs,
    options: RunOptions,
    wait: bool,
) -> Started {
    // A run of another id is one another start made.
    let own = RunId::generate();
    let options = options.id(own.clone());
    let run = |run_id: RunId, status| TickRun {
        found: run_id != own,
        run_id,
        status,
    };
    #[cfg(feature = "postgres")]
    if engine.fleet.is_some() {
        let run_id = engine.submit(inputs).options(options).await?;
        if !wait {
            return Ok(run(run_id, None));
        }
        let result = engine.wait(&run_id).await?;
        return Ok(run(run_id, Some(result.status)));
    }
    let _ = wait;
    let result = engine.run(inputs).options(options).await?;
    Ok(run(result.run_id, Some(result.status)))
}

/// Fires `tick` of `entry` and logs how its run ended.
async fn log_end(entry: Entry, tick: Tick) {
    let (pipeline, schedule) = (&entry.pipeline, &entry.name);
    match (entry.fire)(tick.clone(), false).await {
        Ok(run) => {
            let status = run.status.map_or("submitted".to_owned(), |s| s.to_string());
            let by = if run.found {
                "another start's"
            } else {
                "this scheduler's"
            };
            let id = &run.run_id;
            tracing::info!(%pipeline, %schedule, %tick, run = %id, %status, "tick: {by} run");
        }
        Err(error) => {
            tracing::warn!(%pipeline, %schedule, %tick, %error, "tick's run could not start");
        }
    }
}
