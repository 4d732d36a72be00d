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

pub use crate::cron::{Cron, Missed, Schedule, ScheduleError, Tick};
pub use scheduler::{Backfill, BackfillTick, MAX_BACKFILL, Scheduled, Scheduler, TickRun};
