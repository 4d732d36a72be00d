//! Cron expressions in time zones and the schedules made of them (feature `schedules`): what a
//! graph holds, and the one rule of which ticks a scheduler fires (`due`). Re-exported, with the
//! scheduler, as `pipeline::schedule`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use jiff::Timestamp;
use jiff::tz::TimeZone;

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
    /// A backfill's range holds more ticks than one backfill starts runs for.
    #[error("the range holds more than {most} ticks of pipeline `{pipeline}`'s schedule: split it")]
    TooManyTicks {
        /// The pipeline.
        pipeline: String,
        /// The most one backfill takes.
        most: usize,
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
            *days = days::crontab_days(days).map_err(bad)?;
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
    /// assert_eq!(paris.instant("2026-11-01T03:00:00Z", false)?, 1_793_502_000_000);
    /// // The day in Paris (UTC+1 in November): from 23:00 UTC the day before.
    /// assert_eq!(paris.instant("2026-11-01", false)?, 1_793_487_600_000);
    /// assert_eq!(paris.instant("2026-11-01", true)?, 1_793_573_999_999);
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

mod days;
mod schedule;

pub use schedule::{Missed, Schedule};
pub(crate) use schedule::{Schedules, due};

#[cfg(test)]
mod tests;
