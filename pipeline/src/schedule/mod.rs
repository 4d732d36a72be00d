//! Schedules (feature `schedules`): a pipeline starts on the ticks of cron expressions, each in
//! its time zone, with inputs made from the tick.
//!
//! A tick is fired **once** however many schedulers run: its run is started with the tick as its
//! idempotency key ([`Schedule::key`]), so the first scheduler to claim the key starts the run
//! and the others find it. A [`Scheduler`] fires the ticks of the pipelines given to it; the CLI's
//! `worker` and `serve` run one, and `backfill` starts the runs of past ticks.
//!
//! ```
//! use pipeline::schedule::{Missed, Schedule};
//!
//! // Every night at 03:00 in Paris: the run's input is the tick's date there.
//! let nightly = Schedule::new("nightly", "0 3 * * *", "Europe/Paris", |tick| tick.date())?
//!     .missed(Missed::CatchUp(2));
//! let tick = nightly.cron().next_after(1_800_000_000_000).expect("a next tick");
//! assert_eq!(tick.to_string(), "2027-01-16T03:00:00+01:00[Europe/Paris]");
//! assert_eq!(nightly.inputs(&tick), "2027-01-16");
//! # Ok::<(), pipeline::schedule::ScheduleError>(())
//! ```

mod scheduler;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

pub use scheduler::{Backfill, BackfillTick, Scheduled, Scheduler, TickRun};

/// A schedule that cannot be made: its cron expression or time zone, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("cron expression `{expression}` does not parse: {reason}")]
    Cron {
        /// The expression, as written.
        expression: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The time zone is not in the time zone database.
    #[error("time zone `{zone}` is unknown: {reason}")]
    TimeZone {
        /// The time zone, as written.
        zone: String,
        /// What the time zone database said.
        reason: String,
    },
    /// A schedule name is empty or holds a character other than `A-Za-z0-9_-.`.
    #[error("schedule name `{0}` is not 1 to 64 of `A-Za-z0-9_-.`")]
    Name(String),
    /// A time outside what a tick can be (before 1970 or after 9999).
    #[error("{0} ms since the Unix epoch is out of range")]
    Time(i64),
    /// A time given as text that is neither a date nor an instant.
    #[error("`{text}`: {reason}")]
    Instant {
        /// The text.
        text: String,
        /// Why it is not a time.
        reason: String,
    },
    /// Pipeline `0` has schedules, and its engine has no checkpointer to claim ticks' keys in.
    #[error("pipeline `{0}` has schedules, and its engine no checkpointer to keep its ticks' keys")]
    NoCheckpointer(String),
    /// A pipeline has no schedule of that name (or has several, and none was named).
    #[error(
        "pipeline `{pipeline}` has {}{}",
        match known.as_slice() { [] => "no schedule".to_owned(), k => format!("schedules {}", k.join(", ")) },
        match name { Some(name) => format!(", none named `{name}`"), None if known.len() > 1 => ": name one".to_owned(), None => String::new() }
    )]
    UnknownSchedule {
        /// The pipeline.
        pipeline: String,
        /// The schedule asked for, if one was named.
        name: Option<String>,
        /// The pipeline's schedules.
        known: Vec<String>,
    },
    /// A schedule of a pipeline could not be made (its time zone is unknown here, say).
    #[error("pipeline `{pipeline}`, schedule `{name}`: {source}")]
    Invalid {
        /// The pipeline.
        pipeline: String,
        /// The schedule.
        name: String,
        /// Why.
        source: Box<ScheduleError>,
    },
    /// Two schedules of one pipeline share a name.
    #[error("pipeline `{pipeline}` has two schedules named `{name}`")]
    Duplicate {
        /// The pipeline.
        pipeline: String,
        /// The name.
        name: String,
    },
}

/// A cron expression in a time zone.
///
/// Five fields (`minute hour day-of-month month day-of-week`) as in crontab, six with seconds
/// first, or seven with a year last; names (`Mon`, `Jan`), lists, ranges, steps and the
/// shorthands `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. Days of the week are
/// numbered as in crontab: 0 (or 7) is Sunday, 1 Monday. Times that a daylight saving
/// change skips fire at the first time after the gap; times it repeats fire once, at the first.
#[derive(Clone, Debug)]
pub struct Cron {
    expression: String,
    zone: String,
    schedule: jiff_cron::Schedule,
    tz: TimeZone,
}

impl Cron {
    /// Parses `expression`, in the time zone named `zone` (`"UTC"`, `"Europe/Paris"`, from the
    /// system's time zone database).
    ///
    /// ```
    /// use pipeline::schedule::Cron;
    ///
    /// assert!(Cron::new("*/15 * * * *", "UTC").is_ok());
    /// let error = Cron::new("0 25 * * *", "UTC").unwrap_err();
    /// assert!(error.to_string().starts_with("cron expression `0 25 * * *` does not parse"));
    /// assert!(Cron::new("0 3 * * *", "Mars/Olympus").is_err());
    /// ```
    pub fn new(expression: &str, zone: &str) -> Result<Cron, ScheduleError> {
        let bad = |reason: String| ScheduleError::Cron {
            expression: expression.to_owned(),
            reason,
        };
        let mut fields: Vec<String> = expression.split_whitespace().map(str::to_owned).collect();
        // Crontab's five fields have no seconds: they fire at second 0.
        if fields.len() == 5 {
            fields.insert(0, "0".to_owned());
        }
        // Days of the week as crontab numbers them (0 or 7 Sunday, 1 Monday), not as the parser
        // does (1 Sunday): spelled out as names.
        if let Some(days) = fields.get_mut(5) {
            *days = crontab_days(days).map_err(bad)?;
        }
        let full = fields.join(" ");
        let schedule = jiff_cron::Schedule::from_str(&full)
            .map_err(|e| bad(e.to_string().replace('\n', " ").trim().to_owned()))?;
        let tz = TimeZone::get(zone).map_err(|e| ScheduleError::TimeZone {
            zone: zone.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Cron {
            expression: expression.to_owned(),
            zone: zone.to_owned(),
            schedule,
            tz,
        })
    }

    /// The expression, as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone's name, as written.
    pub fn time_zone(&self) -> &str {
        &self.zone
    }

    /// The first tick strictly after `after_ms` (milliseconds since the Unix epoch); `None`
    /// when there is none (an expression whose years have passed).
    pub fn next_after(&self, after_ms: i64) -> Option<Tick> {
        let after = self.zoned(after_ms)?;
        self.schedule
            .after(after)
            .next()
            .map(|zoned| self.tick(zoned))
    }

    /// The ticks at or after `from_ms` and at or before `to_ms`, in order.
    pub fn between(&self, from_ms: i64, to_ms: i64) -> impl Iterator<Item = Tick> + '_ {
        let start = self.zoned(from_ms.saturating_sub(1));
        start
            .into_iter()
            .flat_map(move |start| self.schedule.after(start))
            .map(|zoned| self.tick(zoned))
            .take_while(move |tick| tick.at_ms <= to_ms)
    }

    /// The instant `text` names, in milliseconds since the Unix epoch: an instant with its
    /// offset (`2026-11-01T03:00:00Z`, `2026-11-01T03:00:00+01:00`), a date and time in this
    /// cron's time zone (`2026-11-01T03:00`), or a date there (`2026-11-01`): its first
    /// millisecond, or its last when `end_of_day`.
    ///
    /// ```
    /// # use pipeline::schedule::Cron;
    /// let paris = Cron::new("0 3 * * *", "Europe/Paris")?;
    /// assert_eq!(paris.instant("2026-11-01T03:00:00Z", false)?, 1_761_966_000_000);
    /// assert_eq!(paris.instant("2026-11-01", false)?, 1_761_951_600_000);
    /// assert_eq!(paris.instant("2026-11-01", true)?, 1_762_037_999_999);
    /// assert!(paris.instant("yesterday", false).is_err());
    /// # Ok::<(), pipeline::schedule::ScheduleError>(())
    /// ```
    pub fn instant(&self, text: &str, end_of_day: bool) -> Result<i64, ScheduleError> {
        let bad = |reason: String| ScheduleError::Instant {
            text: text.to_owned(),
            reason,
        };
        if let Ok(at) = text.parse::<Timestamp>() {
            return Ok(at.as_millisecond());
        }
        if let Ok(at) = text.parse::<jiff::civil::DateTime>()
            && text.contains('T')
        {
            let zoned = at
                .to_zoned(self.tz.clone())
                .map_err(|e| bad(e.to_string()))?;
            return Ok(zoned.timestamp().as_millisecond());
        }
        let date = text.parse::<jiff::civil::Date>().map_err(|e| {
            bad(format!(
                "not a date (2026-11-01) or an instant (2026-11-01T03:00:00Z): {e}"
            ))
        })?;
        let start = |d: jiff::civil::Date| {
            d.to_zoned(self.tz.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(|e| bad(e.to_string()))
        };
        match end_of_day {
            false => start(date),
            true => match date.tomorrow() {
                Ok(next) => start(next).map(|ms| ms - 1),
                Err(e) => Err(bad(e.to_string())),
            },
        }
    }

    /// The ticks at or before `at_ms`, newest first.
    fn back_from(&self, at_ms: i64) -> impl Iterator<Item = Tick> + '_ {
        let end = self.zoned(at_ms.saturating_add(1));
        end.into_iter()
            .flat_map(move |end| self.schedule.after(end).rev())
            .map(|zoned| self.tick(zoned))
    }

    fn zoned(&self, ms: i64) -> Option<jiff::Zoned> {
        Timestamp::from_millisecond(ms)
            .ok()
            .map(|at| at.to_zoned(self.tz.clone()))
    }

    fn tick(&self, zoned: jiff::Zoned) -> Tick {
        Tick {
            at_ms: zoned.timestamp().as_millisecond(),
            zone: Arc::from(self.zone.as_str()),
            zoned,
        }
    }
}

/// Day names, Sunday first: crontab's day numbers index it (7 is Sunday again).
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A day-of-week field in crontab's numbering, as the names of its days (`*` and `?` as they
/// are): `1-5` is `Mon,Tue,Wed,Thu,Fri`, `*/2` is `Sun,Tue,Thu,Sat`, `5-7` is `Fri,Sat,Sun`.
fn crontab_days(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let day = |text: &str| -> Result<usize, String> {
        if let Ok(n) = text.parse::<usize>() {
            return match n {
                0..=7 => Ok(n),
                _ => Err(format!("day of the week {n} is not 0 to 7")),
            };
        }
        let lower = text.to_ascii_lowercase();
        let names = [
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ];
        let extra = |d: usize| (d == 2 && lower == "tues") || (d == 4 && lower == "thurs");
        (0..7)
            .find(|&d| names[d].0 == lower || names[d].1 == lower || extra(d))
            .ok_or_else(|| format!("`{text}` is not a day of the week"))
    };
    let mut set = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => match step.parse::<usize>() {
                Ok(step) if step > 0 => (base, step),
                _ => return Err(format!("step `{step}` is not a whole number above 0")),
            },
            None => (item, 1),
        };
        let (from, to) = match base.split_once('-') {
            _ if base == "*" => (0, 6),
            Some((from, to)) => (day(from)?, day(to)?),
            // `n/step` runs from n to the end of the week.
            None if item.contains('/') => (day(base)?, 6),
            None => (day(base)?, day(base)?),
        };
        if from > to {
            return Err(format!("day range `{base}` runs backwards"));
        }
        for d in (from..=to).step_by(step) {
            set[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|&d| set[d]).map(|d| DAYS[d]).collect();
    Ok(names.join(","))
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression, self.zone)
    }
}

/// A tick of a schedule: an instant, seen in the schedule's time zone.
///
/// Displayed as RFC 9557 (`2026-12-06T03:00:00+01:00[Europe/Paris]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tick {
    at_ms: i64,
    zone: Arc<str>,
    zoned: jiff::Zoned,
}

impl Tick {
    /// The tick of `cron` at `at_ms` (milliseconds since the Unix epoch), whether or not the
    /// expression fires then.
    pub fn at(cron: &Cron, at_ms: i64) -> Result<Tick, ScheduleError> {
        cron.zoned(at_ms)
            .map(|zoned| cron.tick(zoned))
            .ok_or(ScheduleError::Time(at_ms))
    }

    /// Milliseconds since the Unix epoch.
    pub fn timestamp_ms(&self) -> i64 {
        self.at_ms
    }

    /// The year, in the schedule's time zone.
    pub fn year(&self) -> i32 {
        i32::from(self.zoned.year())
    }

    /// The month, 1 to 12, in the schedule's time zone.
    pub fn month(&self) -> u32 {
        self.zoned.month().unsigned_abs().into()
    }

    /// The day of the month, 1 to 31, in the schedule's time zone.
    pub fn day(&self) -> u32 {
        self.zoned.day().unsigned_abs().into()
    }

    /// The hour, 0 to 23, in the schedule's time zone.
    pub fn hour(&self) -> u32 {
        self.zoned.hour().unsigned_abs().into()
    }

    /// The minute, 0 to 59.
    pub fn minute(&self) -> u32 {
        self.zoned.minute().unsigned_abs().into()
    }

    /// The second, 0 to 59.
    pub fn second(&self) -> u32 {
        self.zoned.second().unsigned_abs().into()
    }

    /// The date in the schedule's time zone, as `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        self.zoned.date().to_string()
    }

    /// The schedule's time zone, as written.
    pub fn time_zone(&self) -> &str {
        &self.zone
    }

    /// The instant in UTC, as RFC 3339 (`2026-12-06T02:00:00Z`).
    pub fn utc(&self) -> String {
        self.zoned.timestamp().to_string()
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.zoned)
    }
}

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
        let ahead = self.cron.between(tick.at_ms + 1, i64::MAX);
        let until = ahead.take(back as usize).last();
        let span = until.map_or(0, |t| t.at_ms - tick.at_ms).max(0) as u64;
        Duration::from_millis(span) + GRACE + crate::store::DEFAULT_KEY_RETENTION
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
    let mut next_at = cron.next_after(now_ms).map(|t| t.at_ms);
    for tick in cron.back_from(now_ms) {
        if after_ms.is_some_and(|after| tick.at_ms <= after) {
            break;
        }
        let until_next = next_at.map_or(u64::MAX, |next| (next - tick.at_ms).max(0) as u64);
        let grace = (GRACE.as_millis() as u64).min(until_next);
        next_at = Some(tick.at_ms);
        let late = (now_ms - tick.at_ms).max(0) as u64;
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

#[cfg(test)]
mod tests;
