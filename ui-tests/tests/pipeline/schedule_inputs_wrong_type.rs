use pipeline::prelude::*;
use pipeline::schedule::Tick;

#[node]
fn note(day: String) -> String {
    day
}

/// Makes a `String`, not the pipeline's inputs.
fn nightly(tick: &Tick) -> String {
    tick.date()
}

pipeline! {
    #[schedule(cron = "0 3 * * *", tz = "Europe/Paris", inputs = nightly)]
    pub Nightly(day: String) -> String {
        noted = note(day);
        noted
    }
}

fn main() {}
