//! Node logs: the `tracing` events a node's attempt emits, kept with the attempt (in its audit
//! entry, so in every store), bounded in lines and bytes.
//!
//! An attempt's body is polled inside [`Captured`], which makes the attempt's log the thread's
//! current one for the poll (and a sync body's, on the blocking pool); the [`NodeLogs`] layer,
//! in the process's `tracing` subscriber, adds each event to the current log, if any. Events
//! from tasks a body spawns are not the attempt's.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{self, Layer};

/// One event a node's attempt emitted, as its audit entry keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The event's target (by default the module that emitted it).
    pub target: String,
    /// The message, then the other fields as `name=value`.
    pub message: String,
}

/// How much of each attempt's log is kept: at most `lines` events and `bytes` bytes of them
/// (their messages and targets), of `level` and above; the rest is counted, not kept.
///
/// ```
/// use pipeline::trace::LogLimits;
///
/// let limits = LogLimits::default().lines(50).bytes(16 * 1024).level(tracing::Level::DEBUG);
/// assert_eq!((limits.max_lines(), limits.max_bytes()), (50, 16 * 1024));
/// assert_eq!(LogLimits::off().max_lines(), 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLimits {
    lines: u32,
    bytes: u32,
    level: Level,
}

impl Default for LogLimits {
    /// 200 lines, 64 KiB, `INFO` and above.
    fn default() -> LogLimits {
        LogLimits {
            lines: 200,
            bytes: 64 * 1024,
            level: Level::INFO,
        }
    }
}

impl LogLimits {
    /// No log kept: attempts are not watched at all.
    pub fn off() -> LogLimits {
        LogLimits {
            lines: 0,
            ..LogLimits::default()
        }
    }

    /// Keeps at most `lines` events per attempt.
    pub fn lines(mut self, lines: u32) -> LogLimits {
        self.lines = lines;
        self
    }

    /// Keeps at most `bytes` bytes of events per attempt (an event that would go past it is
    /// dropped, and the ones after it).
    pub fn bytes(mut self, bytes: u32) -> LogLimits {
        self.bytes = bytes;
        self
    }

    /// Keeps events of `level` and above.
    pub fn level(mut self, level: Level) -> LogLimits {
        self.level = level;
        self
    }

    /// The most events kept per attempt.
    pub fn max_lines(&self) -> u32 {
        self.lines
    }

    /// The most bytes kept per attempt.
    pub fn max_bytes(&self) -> u32 {
        self.bytes
    }

    /// Whether attempts' logs are kept at all.
    pub(crate) fn on(&self) -> bool {
        self.lines > 0 && self.bytes > 0
    }
}

/// An attempt's log as it is kept.
#[derive(Debug, Default)]
pub(crate) struct Kept {
    limits: Option<LogLimits>,
    pub lines: Vec<LogLine>,
    bytes: usize,
    /// Events past the limits.
    pub dropped: u32,
}

impl Kept {
    /// What an audit entry keeps: the lines and the count dropped; `None` when both are empty.
    pub fn into_entry(self) -> Option<Box<(Vec<LogLine>, u32)>> {
        (!self.lines.is_empty() || self.dropped > 0).then(|| Box::new((self.lines, self.dropped)))
    }

    pub fn new(limits: LogLimits) -> Kept {
        Kept {
            limits: Some(limits),
            ..Kept::default()
        }
    }

    fn add(&mut self, event: &Event<'_>) {
        let Some(limits) = self.limits else { return };
        let meta = event.metadata();
        if *meta.level() > limits.level {
            return;
        }
        if self.lines.len() >= limits.lines as usize {
            self.dropped += 1;
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let size = message.0.len() + meta.target().len();
        if self.bytes + size > limits.bytes as usize {
            self.dropped += 1;
            return;
        }
        self.bytes += size;
        self.lines.push(LogLine {
            at_ms: now_ms(),
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: message.0,
        });
    }
}

/// The wall clock in milliseconds since the Unix epoch, as stores record times.
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

/// An event's message first, then its other fields as `name=value`.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = &mut self.0;
        if field.name() == "message" {
            let fields = std::mem::take(text);
            let _ = write!(text, "{value:?}");
            if !fields.is_empty() {
                text.push(' ');
                text.push_str(&fields);
            }
            return;
        }
        if !text.is_empty() {
            text.push(' ');
        }
        let _ = write!(text, "{}={value:?}", field.name());
    }

    /// A text field quoted (as `tracing`'s formatter writes it), a message as it is.
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.record_debug(field, &format_args!("{value}")),
            _ => self.record_debug(field, &value),
        }
    }
}

thread_local! {
    /// The log of the attempt being polled on this thread, if any.
    static CURRENT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Runs `work` with `kept` as the thread's current log; returns what it returned and the log.
/// The thread's log before is put back even if `work` panics (a blocking pool thread goes on
/// to other work).
pub(crate) fn with_log<T>(kept: Option<Kept>, work: impl FnOnce() -> T) -> (T, Option<Kept>) {
    struct Restore(Option<Kept>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let before = self.0.take();
            let _ = CURRENT.try_with(|current| current.replace(before));
        }
    }
    let restore = Restore(CURRENT.with(|current| current.replace(kept)));
    let out = work();
    let kept = CURRENT.with(|current| current.borrow_mut().take());
    drop(restore);
    (out, kept)
}

/// The thread's current log, taken (a sync body's log goes with it to the blocking pool).
pub(crate) fn take_log() -> Option<Kept> {
    CURRENT.with(|current| current.borrow_mut().take())
}

/// Makes `kept` the thread's current log again.
pub(crate) fn put_log(kept: Option<Kept>) {
    CURRENT.with(|current| *current.borrow_mut() = kept);
}

pin_project_lite::pin_project! {
    /// An attempt's body, polled with its log as the thread's current one. Its output comes
    /// with the log.
    pub(crate) struct Captured<F> {
        #[pin]
        body: F,
        kept: Option<Kept>,
    }
}

impl<F> Captured<F> {
    pub fn new(body: F, limits: LogLimits) -> Captured<F> {
        Captured {
            body,
            kept: Some(Kept::new(limits)),
        }
    }
}

impl<F: Future> Future for Captured<F> {
    type Output = (F::Output, Kept);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let (polled, kept) = with_log(this.kept.take(), || this.body.poll(cx));
        match polled {
            Poll::Ready(out) => Poll::Ready((out, kept.unwrap_or_default())),
            Poll::Pending => {
                *this.kept = kept;
                Poll::Pending
            }
        }
    }
}

/// The `tracing` layer that keeps each event a node's attempt emits with the attempt. Put it
/// in your subscriber (the CLI does): without it, attempts keep no log, and are not watched (a
/// process without it pays nothing for node logs). It filters nothing for
/// the other layers; alone it enables every event, so give it a filter of its own
/// (`.with_filter(LevelFilter::INFO)`) or put it beside filtered layers.
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let subscriber = tracing_subscriber::registry().with(pipeline::trace::NodeLogs);
/// # let _ = subscriber;
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeLogs;

/// Whether a [`NodeLogs`] layer was added to a subscriber in this process: until one is,
/// attempts are not watched at all (their bodies are polled as they are).
static WATCHED: AtomicBool = AtomicBool::new(false);

/// Whether attempts' events can be kept: a [`NodeLogs`] layer is in a subscriber.
pub(crate) fn watched() -> bool {
    WATCHED.load(Ordering::Relaxed)
}

impl<S: Subscriber> Layer<S> for NodeLogs {
    fn on_layer(&mut self, _: &mut S) {
        WATCHED.store(true, Ordering::Relaxed);
    }

    fn on_event(&self, event: &Event<'_>, _: layer::Context<'_, S>) {
        // `try_with`: an event during the thread's teardown has no attempt.
        let _ = CURRENT.try_with(|current| {
            if let Ok(mut current) = current.try_borrow_mut()
                && let Some(kept) = current.as_mut()
            {
                kept.add(event);
            }
        });
    }
}
