//! [`EngineSettings`]: an engine's options as one value, for code that builds engines for
//! pipelines it knows only at run time (the command line builds one per command from them).

use std::sync::Arc;
use std::time::Duration;

use super::{Clock, PipelineEngine};
use crate::data::RoundTrip;
use crate::definition::Pipeline;
use crate::node::OnError;
use crate::store::AuditDetail;
use crate::trace::LogLimits;

/// The options of a [`PipelineEngine`] that do not name a store: the one way to set them, on an
/// engine with [`PipelineEngine::settings`], on the command line's engines with `Cli::engine`.
/// Each one set here overrides the engine's default; one left unset keeps it.
///
/// ```
/// use std::time::Duration;
/// use pipeline::{EngineSettings, OnError};
///
/// let settings = EngineSettings::new()
///     .max_concurrency(8)
///     .on_error(OnError::SkipDownstream)
///     .wait_in_process(Duration::ZERO);
/// ```
#[derive(Clone, Debug, Default)]
pub struct EngineSettings {
    on_error: Option<OnError>,
    max_concurrency: Option<usize>,
    wait_in_process: Option<Duration>,
    round_trip: Option<RoundTrip>,
    audit_detail: Option<AuditDetail>,
    node_logs: Option<LogLimits>,
    clock: Option<Arc<dyn Clock>>,
    key_retention: Option<Duration>,
}

impl EngineSettings {
    /// No option set: applied, it changes nothing.
    pub fn new() -> EngineSettings {
        EngineSettings::default()
    }

    /// The failure policy for nodes that do not set their own (default [`OnError::FailFast`]).
    pub fn on_error(mut self, on_error: OnError) -> EngineSettings {
        self.on_error = Some(on_error);
        self
    }

    /// Runs at most `n` nodes of a run at once (at least 1; default: no cap).
    pub fn max_concurrency(mut self, n: usize) -> EngineSettings {
        self.max_concurrency = Some(n.max(1));
        self
    }

    /// Awaits in the process a timer (or a signal's timeout) due within `threshold` when
    /// nothing else can run, instead of ending the run `Waiting` (default: one minute; zero
    /// suspends every wait at once). Meanwhile the run's signals are read again every second.
    pub fn wait_in_process(mut self, threshold: Duration) -> EngineSettings {
        self.wait_in_process = Some(threshold);
        self
    }

    /// Whether each node output is checked to read back from its JSON as the same value before
    /// it is checkpointed (default [`RoundTrip::Verify`]; see [`RoundTrip`]).
    pub fn round_trip(mut self, round_trip: RoundTrip) -> EngineSettings {
        self.round_trip = Some(round_trip);
        self
    }

    /// How much of the values each attempt read and wrote its audit entry holds (default
    /// [`AuditDetail::References`]: what a checkpoint already holds is referred to, not copied).
    pub fn audit_detail(mut self, detail: AuditDetail) -> EngineSettings {
        self.audit_detail = Some(detail);
        self
    }

    /// How much of the `tracing` events each attempt's body emits its audit entry keeps
    /// (default [`LogLimits::default`]: 200 lines, 64 KiB, `INFO` and above;
    /// [`LogLimits::off`] keeps none). Events are kept where the process's subscriber has the
    /// [`NodeLogs`](crate::trace::NodeLogs) layer (the CLI's has).
    pub fn node_logs(mut self, limits: LogLimits) -> EngineSettings {
        self.node_logs = Some(limits);
        self
    }

    /// How long an idempotency key stays held by the run that took it (default: a day,
    /// [`DEFAULT_KEY_RETENTION`](crate::DEFAULT_KEY_RETENTION)): a start with the key within it
    /// returns that run; after it, one starts a new run.
    pub fn key_retention(mut self, retention: Duration) -> EngineSettings {
        self.key_retention = Some(retention);
        self
    }
}

impl EngineSettings {
    /// The clock that says when a wait (a timer, a signal's timeout) is due (default: the
    /// system's, [`SystemClock`](super::SystemClock)); a test gives a
    /// [`ManualClock`](super::ManualClock) and moves it on instead of waiting.
    ///
    /// ```
    /// # use pipeline::{EngineSettings, ManualClock};
    /// let clock = ManualClock::now();
    /// let settings = EngineSettings::new().clock(clock.clone());
    /// ```
    pub fn clock(mut self, clock: impl Clock + 'static) -> EngineSettings {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The clock set, or the system's (the command line's `resume-due` reads it).
    #[cfg(feature = "cli")]
    pub(crate) fn the_clock(&self) -> Arc<dyn Clock> {
        match &self.clock {
            Some(clock) => Arc::clone(clock),
            None => Arc::new(super::SystemClock),
        }
    }
}

impl<P: Pipeline> PipelineEngine<P> {
    /// Applies every option `settings` sets; the engine keeps its own value of each one left
    /// unset (fail-fast, no concurrency cap, waits under a minute awaited in the process,
    /// [`RoundTrip::Verify`], [`AuditDetail::References`]).
    ///
    /// ```
    /// # use pipeline::{EngineSettings, GraphBuilder, OnError, PipelineEngine};
    /// # let mut g = GraphBuilder::<u64>::new("p");
    /// # let x = g.input("x", |x: &u64| *x);
    /// let engine = PipelineEngine::new(g.build(x)?)
    ///     .settings(EngineSettings::new().on_error(OnError::SkipDownstream).max_concurrency(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn settings(mut self, settings: EngineSettings) -> Self {
        if let Some(on_error) = settings.on_error {
            self.on_error = on_error;
        }
        if let Some(n) = settings.max_concurrency {
            self.max_concurrency = Some(n);
        }
        if let Some(threshold) = settings.wait_in_process {
            self.in_process = threshold;
        }
        if let Some(round_trip) = settings.round_trip {
            self.round_trip = round_trip;
        }
        if let Some(detail) = settings.audit_detail {
            self.audit_detail = detail;
        }
        if let Some(limits) = settings.node_logs {
            self.node_logs = limits;
        }
        if let Some(clock) = settings.clock {
            self.clock = clock;
        }
        if let Some(retention) = settings.key_retention {
            self.key_retention = retention;
        }
        self
    }
}
