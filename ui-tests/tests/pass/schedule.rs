//! Schedules in `pipeline!`: a named one with a policy, and one named after its inputs fn.

use pipeline::prelude::*;
use pipeline::schedule::Tick;

#[node]
fn note(day: String, customer: String) -> String {
    format!("{customer} {day}")
}

fn nightly(tick: &Tick) -> NightlyInputs {
    NightlyInputs {
        day: tick.date(),
        customer: "acme".into(),
    }
}

pipeline! {
    /// Twice a night.
    #[schedule(cron = "0 3 * * *", tz = "Europe/Paris", inputs = nightly)]
    #[schedule(name = "late", cron = "0 0 5 * * Mon-Fri", inputs = nightly, missed = catch_up(2))]
    pub Nightly(day: String, customer: String) -> String {
        noted = note(day, customer);
        noted
    }
}

fn main() {
    let mut scheduler = pipeline::schedule::Scheduler::new();
    let engine = PipelineEngine::new(Nightly).checkpointer(InMemoryCheckpointer::new());
    scheduler.add(std::sync::Arc::new(engine)).unwrap();
    let names: Vec<String> = scheduler.schedules().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["nightly", "late"]);
}
