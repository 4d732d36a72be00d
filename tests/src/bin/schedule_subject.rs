//! The process the schedule tests start and kill: the command line (`pipeline::cli::main`) over
//! one pipeline, `Ticks`, with two schedules: `each_second` (every second, catching up at most
//! 5 missed ticks) and `nightly` (03:00 in Paris, skipping missed ticks). Each execution of its
//! node appends `TICK PID` to the file `$TICK_LOG`, when set, as a real side effect would, after
//! `$TICK_SLEEP_MS` milliseconds when set.

use std::io::Write;

use pipeline::prelude::*;
use pipeline::schedule::Tick;

/// Notes the tick its run is for.
#[node]
fn note(tick: String) -> String {
    let pause = std::env::var("TICK_SLEEP_MS")
        .ok()
        .and_then(|ms| ms.parse().ok());
    if let Some(ms) = pause {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
    if let Some(path) = std::env::var_os("TICK_LOG") {
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the tick log opens");
        // One short `write` on an `O_APPEND` file: lines of several processes never interleave.
        let line = format!("{tick} {}\n", std::process::id());
        log.write_all(line.as_bytes())
            .expect("the tick log is writable");
    }
    tick
}

pipeline! {
    /// Notes each tick it is started for.
    #[schedule(cron = "* * * * * *", inputs = each_second, missed = catch_up(5))]
    #[schedule(name = "nightly", cron = "0 3 * * *", tz = "Europe/Paris", inputs = each_second, missed = skip)]
    pub Ticks(tick: String) -> String {
        noted = note(tick);
        noted
    }
}

/// A run's inputs: its tick, in UTC.
fn each_second(tick: &Tick) -> TicksInputs {
    TicksInputs { tick: tick.utc() }
}

fn main() {
    pipeline::cli::main()
}
