use pipeline::prelude::*;
use pipeline::schedule::Tick;

#[node]
fn note(day: String) -> String {
    day
}

fn nightly(tick: &Tick) -> NightlyInputs {
    NightlyInputs { day: tick.date() }
}

pipeline! {
    /// Four fields, a character cron has no use for, a policy that is not one, and a second
    /// schedule with the first one's name (its inputs fn's).
    #[schedule(cron = "0 3 * *", inputs = nightly)]
    #[schedule(cron = "0 3 * * Mon;Tue", inputs = nightly)]
    #[schedule(cron = "0 3 * * *", inputs = nightly, missed = retry)]
    #[schedule(cron = "0 4 * * *", inputs = nightly)]
    #[schedule(cron = "0 5 * * *", inputs = nightly)]
    #[schedule(cron = "0 6 * * *")]
    pub Nightly(day: String) -> String {
        noted = note(day);
        noted
    }
}

fn main() {}
