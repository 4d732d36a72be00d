//! How values are written for people, on the command line and in the run viewer alike:
//! durations, timestamps, clipped names.

/// At most `max` characters, with `…` when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// Milliseconds as `850ms`, `12.3s` or `4m05s`.
pub(crate) fn format_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

/// How long before `now_ms` the time `ms` was, as people say it (the viewer's run list and page): `just now`, `42s ago`,
/// `5 min ago`, `3 h ago`, `2 days ago` (`in the future` for a clock that ran ahead).
#[cfg(feature = "web")]
pub(crate) fn format_ago(ms: u64, now_ms: u64) -> String {
    let Some(ago) = now_ms.checked_sub(ms) else {
        return "in the future".to_owned();
    };
    let s = ago / 1000;
    match s {
        0..10 => "just now".to_owned(),
        10..60 => format!("{s}s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..86_400 => format!("{} h ago", s / 3_600),
        86_400..172_800 => "1 day ago".to_owned(),
        _ => format!("{} days ago", s / 86_400),
    }
}

/// Where a run is, for how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Took {
    /// It ended (or waits, suspended): until its last write.
    Ended,
    /// A process runs it now: until now.
    Running,
    /// It has not ended and nothing runs it (interrupted, or not known): at least until its last
    /// recorded activity, since what it did after that left no trace.
    Unfinished,
}

impl Took {
    /// A run's state as [`Took`].
    pub(crate) fn of(state: crate::store::RunState) -> Took {
        use crate::store::RunState;
        match state {
            RunState::Ended(_) => Took::Ended,
            RunState::Running => Took::Running,
            RunState::Interrupted | RunState::Stopped | RunState::Unknown => Took::Unfinished,
        }
    }
}

/// How long a run took, for a table: `1.2s`; `≥ 2.1s` for one that did not end and nothing runs.
pub(crate) fn format_took(
    took: Took,
    started_at_ms: u64,
    updated_at_ms: u64,
    now_ms: u64,
) -> String {
    match took {
        Took::Ended => format_ms(updated_at_ms.saturating_sub(started_at_ms)),
        Took::Running => format_ms(now_ms.max(updated_at_ms).saturating_sub(started_at_ms)),
        Took::Unfinished => format!(
            "≥ {}",
            format_ms(updated_at_ms.saturating_sub(started_at_ms))
        ),
    }
}

/// Microseconds as `850µs`, or as [`format_ms`] from a millisecond on.
pub(crate) fn format_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us}µs"),
        _ => format_ms(us / 1000),
    }
}

/// Milliseconds since the Unix epoch as `2026-11-28 17:46:38` (UTC).
pub(crate) fn format_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) date: Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_as_people_write_them() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(1_795_887_998_000), "2026-11-28 17:46:38");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_ms(850), "850ms");
        assert_eq!(format_us(850), "850µs");
        assert_eq!(format_us(12_345), "12ms");
        assert_eq!(format_ms(12_345), "12.3s");
        assert_eq!(format_ms(245_000), "4m05s");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("ab", 3), "ab");
    }

    #[cfg(feature = "web")]
    #[test]
    fn how_long_ago_reads_as_people_say_it() {
        let now = 1_795_887_998_000;
        assert_eq!(format_ago(now - 3_000, now), "just now");
        assert_eq!(format_ago(now - 42_000, now), "42s ago");
        assert_eq!(format_ago(now - 330_000, now), "5 min ago");
        assert_eq!(format_ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(format_ago(now - 30 * 3_600_000, now), "1 day ago");
        assert_eq!(format_ago(now - 50 * 3_600_000, now), "2 days ago");
        assert_eq!(format_ago(now + 5_000, now), "in the future");
    }
}
