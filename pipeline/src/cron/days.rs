//! Days of the week as crontab numbers them (0 or 7 Sunday, 1 Monday), spelled out as names for
//! the cron parser, which counts Sunday as 1.

/// Day names, Sunday first: crontab's day numbers index it (7 is Sunday again).
const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// A day-of-week field in crontab's numbering, as the names of its days (`*` and `?` as they
/// are): `1-5` is `Mon,Tue,Wed,Thu,Fri`, `*/2` is `Sun,Tue,Thu,Sat`, `5-7` is `Fri,Sat,Sun`.
pub(super) fn crontab_days(field: &str) -> Result<String, String> {
    if field == "*" || field == "?" {
        return Ok(field.to_owned());
    }
    let day = |text: &str| -> Result<usize, String> {
        if let Ok(n) = text.parse::<usize>() {
            return match n {
                0..=7 => Ok(n),
                _ => Err(format!("day of the week {n} is not 0 to 7")),
            };
        }
        let lower = text.to_ascii_lowercase();
        let names = [
            ("sun", "sunday"),
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
        ];
        let extra = |d: usize| (d == 2 && lower == "tues") || (d == 4 && lower == "thurs");
        (0..7)
            .find(|&d| names[d].0 == lower || names[d].1 == lower || extra(d))
            .ok_or_else(|| format!("`{text}` is not a day of the week"))
    };
    let mut set = [false; 7];
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => match step.parse::<usize>() {
                Ok(step) if step > 0 => (base, step),
                _ => return Err(format!("step `{step}` is not a whole number above 0")),
            },
            None => (item, 1),
        };
        let (from, to) = match base.split_once('-') {
            _ if base == "*" => (0, 6),
            Some((from, to)) => (day(from)?, day(to)?),
            // `n/step` runs from n to the end of the week.
            None if item.contains('/') => (day(base)?, 6),
            None => (day(base)?, day(base)?),
        };
        if from > to {
            return Err(format!("day range `{base}` runs backwards"));
        }
        for d in (from..=to).step_by(step) {
            set[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|&d| set[d]).map(|d| DAYS[d]).collect();
    Ok(names.join(","))
}
