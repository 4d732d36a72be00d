//! Cron expressions, ticks and the rule of which ticks fire: hand-checked cases, DST, crontab days, and a property test of a scheduler that keeps up.

use proptest::prelude::*;

use super::{Cron, Missed, Schedule, due};

/// Milliseconds since the epoch of an RFC 3339 instant.
fn ms(at: &str) -> i64 {
    at.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn fired(cron: &Cron, missed: Missed, after: Option<&str>, now: &str) -> Vec<String> {
    due(cron, missed, after.map(ms), ms(now))
        .iter()
        .map(|t| t.utc())
        .collect()
}

#[test]
fn a_starting_scheduler_catches_up_the_latest_missed_ticks_as_its_policy_says() {
    let hourly = Cron::new("0 * * * *", "UTC").unwrap();
    let now = "2026-12-06T10:30:00Z";
    assert_eq!(
        fired(&hourly, Missed::CatchUp(1), None, now),
        ["2026-12-06T10:00:00Z"]
    );
    assert_eq!(
        fired(&hourly, Missed::CatchUp(3), None, now),
        [
            "2026-12-06T08:00:00Z",
            "2026-12-06T09:00:00Z",
            "2026-12-06T10:00:00Z"
        ]
    );
    assert!(fired(&hourly, Missed::Skip, None, now).is_empty());
}

#[test]
fn a_tick_within_its_grace_fires_whatever_the_policy() {
    let hourly = Cron::new("0 * * * *", "UTC").unwrap();
    for missed in [Missed::Skip, Missed::CatchUp(0), Missed::CatchUp(2)] {
        let late = fired(&hourly, missed, None, "2026-12-06T10:00:59Z");
        assert_eq!(late.first().map(String::as_str), missed_first(missed));
        assert_eq!(
            late.last().map(String::as_str),
            Some("2026-12-06T10:00:00Z")
        );
    }
    // A minute and a second late is missed: the grace is a minute.
    let missed = fired(&hourly, Missed::Skip, None, "2026-12-06T10:01:01Z");
    assert!(missed.is_empty());
}

fn missed_first(missed: Missed) -> Option<&'static str> {
    match missed {
        Missed::CatchUp(2) => Some("2026-12-06T08:00:00Z"),
        _ => Some("2026-12-06T10:00:00Z"),
    }
}

#[test]
fn a_running_scheduler_fires_the_ticks_since_it_last_looked_and_no_earlier() {
    let hourly = Cron::new("0 * * * *", "UTC").unwrap();
    let after = Some("2026-12-06T10:00:00.200Z");
    assert_eq!(
        fired(&hourly, Missed::Skip, after, "2026-12-06T11:00:00.100Z"),
        ["2026-12-06T11:00:00Z"]
    );
    assert!(fired(&hourly, Missed::CatchUp(5), after, "2026-12-06T10:59:59Z").is_empty());
}

#[test]
fn a_stalled_scheduler_treats_the_ticks_it_slept_through_as_missed() {
    // Every second; the scheduler looked at 12:00:00.0 and wakes 5.5 s later.
    let secondly = Cron::new("* * * * * *", "UTC").unwrap();
    let (after, now) = (Some("2026-12-06T12:00:00Z"), "2026-12-06T12:00:05.500Z");
    // The newest (0.5 s late) is within its grace of a second; 3 and 4 were missed.
    assert_eq!(
        fired(&secondly, Missed::CatchUp(2), after, now),
        [
            "2026-12-06T12:00:03Z",
            "2026-12-06T12:00:04Z",
            "2026-12-06T12:00:05Z"
        ]
    );
    assert_eq!(
        fired(&secondly, Missed::Skip, after, now),
        ["2026-12-06T12:00:05Z"]
    );
}

#[test]
fn daylight_saving_changes_fire_a_skipped_time_after_the_gap_and_a_repeated_one_once() {
    let paris = Cron::new("30 2 * * *", "Europe/Paris").unwrap();
    // 2026-03-29: clocks go from 02:00 to 03:00, so 02:30 does not exist that night.
    let spring: Vec<String> = paris
        .between(ms("2026-03-28T00:00:00Z"), ms("2026-03-30T23:00:00Z"))
        .map(|t| t.to_string())
        .collect();
    assert_eq!(
        spring,
        [
            "2026-03-28T02:30:00+01:00[Europe/Paris]",
            "2026-03-29T03:30:00+02:00[Europe/Paris]",
            "2026-03-30T02:30:00+02:00[Europe/Paris]"
        ]
    );
    // 2026-10-25: 02:30 happens twice; it fires once.
    let autumn = paris.between(ms("2026-10-24T12:00:00Z"), ms("2026-10-25T12:00:00Z"));
    assert_eq!(autumn.count(), 1);
}

#[test]
fn a_tick_gives_its_fields_in_the_schedules_time_zone_and_its_key_in_utc() {
    let tokyo = Schedule::new("daily", "0 0 9 * * *", "Asia/Tokyo", |t| t.date()).unwrap();
    let tick = tokyo.cron().next_after(ms("2026-12-06T12:00:00Z")).unwrap();
    assert_eq!(
        (tick.year(), tick.month(), tick.day(), tick.hour()),
        (2026, 12, 7, 9)
    );
    assert_eq!(tokyo.inputs(&tick), "2026-12-07");
    assert_eq!(tick.time_zone(), "Asia/Tokyo");
    assert_eq!(tokyo.key(&tick), "schedule/daily/2026-12-07T00:00:00Z");
}

#[test]
fn bad_expressions_time_zones_and_names_are_errors_that_say_what() {
    let error = Cron::new("0 3 * *", "UTC").unwrap_err().to_string();
    assert!(error.contains("`0 3 * *`"), "{error}");
    let error = Cron::new("0 3 * * *", "Europe/Pariss")
        .unwrap_err()
        .to_string();
    assert!(error.contains("`Europe/Pariss` is unknown"), "{error}");
    let error = Schedule::new("at 3", "0 3 * * *", "UTC", |_| ()).unwrap_err();
    assert!(error.to_string().contains("`at 3`"), "{error}");
}

#[test]
fn a_keys_retention_covers_the_ticks_a_scheduler_may_look_back_over() {
    let daily = Schedule::new("d", "0 3 * * *", "UTC", |_| ()).unwrap();
    let tick = daily.cron().next_after(0).unwrap();
    let day = std::time::Duration::from_secs(24 * 3600);
    let caught = daily.clone().missed(Missed::CatchUp(7));
    // Seven ticks back, then the grace: the key outlives the eighth day after its tick.
    assert!(caught.key_retention(&tick) > day * 8);
    assert!(daily.missed(Missed::Skip).key_retention(&tick) < day * 3);
}

proptest! {
    /// A scheduler that wakes again and again, each time at most its grace after the tick it
    /// slept to (however the wakes fall between ticks), fires every tick of the span once, in
    /// order, whatever its policy.
    #[test]
    fn a_scheduler_that_keeps_up_fires_every_tick_once(
        start in 1_700_000_000_000i64..1_800_000_000_000,
        wakes in proptest::collection::vec((0u64..5, 0i64..1_000), 1..60),
        skip in any::<bool>(),
    ) {
        let cron = Cron::new("*/2 * * * * *", "UTC").unwrap();
        let missed = if skip { Missed::Skip } else { Missed::CatchUp(1) };
        let (mut seen, mut now, mut fired) = (None, start, Vec::new());
        fired.extend(due(&cron, missed, seen, now).into_iter().map(|t| t.timestamp_ms()));
        seen = Some(now);
        for (early, late) in wakes {
            // Sleep to the next tick (or a little before it), and wake up to a second late.
            let next = cron.next_after(now).unwrap().timestamp_ms();
            now = next - early as i64 + late;
            fired.extend(due(&cron, missed, seen, now).into_iter().map(|t| t.timestamp_ms()));
            seen = Some(now);
        }
        let first = fired.first().copied().unwrap_or(now);
        let every: Vec<i64> = cron.between(first, now).map(|t| t.timestamp_ms()).collect();
        prop_assert_eq!(fired, every);
    }
}

#[test]
fn days_of_the_week_are_numbered_as_in_crontab() {
    // 2026-12-07 is a Monday.
    let next = |expr: &str| {
        let cron = Cron::new(expr, "UTC").unwrap();
        cron.next_after(ms("2026-12-06T12:00:00Z")).unwrap().date()
    };
    assert_eq!(next("0 3 * * 1"), "2026-12-07");
    assert_eq!(next("0 3 * * Mon"), "2026-12-07");
    assert_eq!(next("0 3 * * 0"), "2026-12-13");
    assert_eq!(next("0 3 * * 7"), "2026-12-13");
    assert_eq!(next("0 3 * * 5-7"), "2026-12-11");
    assert_eq!(next("0 3 * * 2-4/2"), "2026-12-08");
    assert_eq!(next("0 3 * * */3"), "2026-12-09");
    assert_eq!(next("0 3 * * sat,SUN"), "2026-12-12");
    for bad in ["0 3 * * 8", "0 3 * * 5-2", "0 3 * * */0", "0 3 * * Funday"] {
        assert!(Cron::new(bad, "UTC").is_err(), "{bad}");
    }
}
