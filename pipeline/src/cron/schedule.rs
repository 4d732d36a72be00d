//! A schedule: a cron expression, the inputs a tick makes, the missed-tick policy; a graph's
//! schedules; and `due`, the one rule of which ticks a scheduler fires.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{Cron, ScheduleError, Tick};

/// What a scheduler does with the ticks it missed: those that came while no scheduler ran (or
/// while it was suspended), found when it starts again.
///
/// A tick is missed when a scheduler comes to it later than its grace after it: a minute, or
/// the time to the next tick when that is shorter. Ticks a scheduler comes to within their grace
/// fire whatever the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missed {
    /// Fires none of them.
    Skip,
    /// Fires the latest `n` of them, oldest first (ticks another scheduler fired are not fired
    /// again).
    CatchUp(u32),
}

impl Default for Missed {
    /// [`Skip`](Missed::Skip): a scheduler started for the first time (a new deployment, a new
    /// schedule) does not fire the tick before it. Run several schedulers (every `worker` is
    /// one) so that a restart loses no tick, or choose [`CatchUp`](Missed::CatchUp).
    fn default() -> Missed {
        Missed::Skip
    }
}

impl fmt::Display for Missed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missed::Skip => f.write_str("skip"),
            Missed::CatchUp(n) => write!(f, "catch up {n}"),
        }
    }
}

/// How much longer than a scheduler may look at its tick a tick's key is held: a day.
const KEY_MARGIN: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest a tick may be late and still be on time.
const GRACE: Duration = Duration::from_secs(60);

/// A schedule of a pipeline with inputs `I`: a name, a cron expression in a time zone, the
/// inputs a tick makes, and what to do with missed ticks.
pub struct Schedule<I> {
    name: Arc<str>,
    cron: Cron,
    inputs: Arc<dyn Fn(&Tick) -> I + Send + Sync>,
    missed: Missed,
}

impl<I> Clone for Schedule<I> {
    fn clone(&self) -> Self {
        Schedule {
            name: Arc::clone(&self.name),
            cron: self.cron.clone(),
            inputs: Arc::clone(&self.inputs),
            missed: self.missed,
        }
    }
}

impl<I> fmt::Debug for Schedule<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("name", &self.name)
            .field("cron", &self.cron)
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

impl<I> Schedule<I> {
    /// A schedule named `name` (unique in its pipeline: it is part of each tick's idempotency
    /// key) on the ticks of `cron` in time zone `zone`, whose runs take the inputs `inputs`
    /// makes of their tick. Missed ticks: [`Missed::default`] (skipped).
    pub fn new(
        name: &str,
        cron: &str,
        zone: &str,
        inputs: impl Fn(&Tick) -> I + Send + Sync + 'static,
    ) -> Result<Schedule<I>, ScheduleError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if name.is_empty() || name.len() > 64 || !name.chars().all(valid) {
            return Err(ScheduleError::Name(name.to_owned()));
        }
        Ok(Schedule {
            name: Arc::from(name),
            cron: Cron::new(cron, zone)?,
            inputs: Arc::new(inputs),
            missed: Missed::default(),
        })
    }

    /// Sets what to do with missed ticks.
    pub fn missed(mut self, missed: Missed) -> Schedule<I> {
        self.missed = missed;
        self
    }

    /// The schedule's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its cron expression and time zone.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// What it does with missed ticks.
    pub fn missed_ticks(&self) -> Missed {
        self.missed
    }

    /// The inputs of the run of `tick`.
    pub fn inputs(&self, tick: &Tick) -> I {
        (self.inputs)(tick)
    }

    /// The idempotency key of the run of `tick`: `schedule/NAME/UTC-INSTANT`. A scheduler and a
    /// backfill start a tick's run with it, so each tick has one run.
    ///
    /// ```
    /// # use pipeline::schedule::{Schedule, Tick};
    /// let hourly = Schedule::new("hourly", "0 * * * *", "UTC", |_| ())?;
    /// let tick = hourly.cron().next_after(0).unwrap();
    /// assert_eq!(hourly.key(&tick), "schedule/hourly/1970-01-01T01:00:00Z");
    /// # Ok::<(), pipeline::schedule::ScheduleError>(())
    /// ```
    pub fn key(&self, tick: &Tick) -> String {
        format!("schedule/{}/{}", self.name, tick.utc())
    }

    /// How long the key of `tick` is held: until a scheduler can no longer come to the tick
    /// (past the ticks [`Missed::CatchUp`] looks back over, and its grace), and a day more.
    pub fn key_retention(&self, tick: &Tick) -> Duration {
        // A starting scheduler looks back over the latest `n` ticks: this one, until the
        // `n`-th after it came.
        let back = match self.missed {
            Missed::Skip => 0,
            Missed::CatchUp(n) => n,
        };
        let ahead = self.cron.between(tick.timestamp_ms() + 1, i64::MAX);
        let until = ahead.take(back as usize).last();
        let span = until
            .map_or(0, |t| t.timestamp_ms() - tick.timestamp_ms())
            .max(0) as u64;
        Duration::from_millis(span) + GRACE + KEY_MARGIN
    }
}

/// The ticks to fire at `now_ms`, oldest first, when every tick at or before `after_ms` was
/// seen to (`None`: the scheduler starts), for a schedule on `cron` with policy `missed`. Ticks
/// within their grace fire; of those missed, as the policy says. The one rule of which ticks
/// fire, for every scheduler.
pub(crate) fn due(cron: &Cron, missed: Missed, after_ms: Option<i64>, now_ms: i64) -> Vec<Tick> {
    let quota = match missed {
        Missed::Skip => 0,
        Missed::CatchUp(n) => n as usize,
    };
    let (mut fired, mut caught) = (Vec::new(), 0);
    // The tick after each one, for its grace: the first after `now_ms` for the newest.
    let mut next_at = cron.next_after(now_ms).map(|t| t.timestamp_ms());
    for tick in cron.back_from(now_ms) {
        if after_ms.is_some_and(|after| tick.timestamp_ms() <= after) {
            break;
        }
        let until_next =
            next_at.map_or(u64::MAX, |next| (next - tick.timestamp_ms()).max(0) as u64);
        let grace = (GRACE.as_millis() as u64).min(until_next);
        next_at = Some(tick.timestamp_ms());
        let late = (now_ms - tick.timestamp_ms()).max(0) as u64;
        if late <= grace {
            fired.push(tick);
        } else if caught < quota {
            caught += 1;
            fired.push(tick);
        } else {
            break;
        }
    }
    fired.reverse();
    fired
}

/// A graph's schedules, and the mistakes made declaring them (reported when a scheduler takes
/// the graph: `pipeline!` cannot fail to build, and a time zone is known only where it runs).
pub(crate) struct Schedules<I> {
    pub list: Vec<Schedule<I>>,
    pub errors: Vec<ScheduleError>,
}

impl<I> Default for Schedules<I> {
    fn default() -> Self {
        Schedules {
            list: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl<I> Schedules<I> {
    /// Adds `schedule` (or the reason schedule `name` could not be made) to pipeline
    /// `pipeline`'s.
    pub fn add(
        &mut self,
        pipeline: &str,
        name: &str,
        schedule: Result<Schedule<I>, ScheduleError>,
    ) {
        match schedule {
            Ok(s) if self.list.iter().any(|had| had.name == s.name) => {
                self.errors.push(ScheduleError::Duplicate {
                    pipeline: pipeline.to_owned(),
                    name: s.name.to_string(),
                });
            }
            Ok(s) => self.list.push(s),
            Err(e) => self.errors.push(ScheduleError::Invalid {
                pipeline: pipeline.to_owned(),
                name: name.to_owned(),
                source: Box::new(e),
            }),
        }
    }
}
