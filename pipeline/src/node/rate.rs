//! [`Rate`]: how often a node's executions may start (`#[node(rate = "100/s")]`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// At most `count` starts per `per`, spread evenly: one start every `per / count`. Parsed from
/// `"100/s"`, `"5/m"`, `"1000/h"`, `"10/30s"` or `"2/500ms"`.
///
/// ```
/// use std::time::Duration;
/// use pipeline::Rate;
///
/// let rate: Rate = "100/s".parse()?;
/// assert_eq!(rate.interval(), Duration::from_millis(10));
/// assert_eq!(rate.to_string(), "100/1s");
/// assert!("0/s".parse::<Rate>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// How many starts.
    pub count: u32,
    /// In how long.
    pub per: Duration,
}

impl Rate {
    /// `count` starts per `per` (`count` at least 1, `per` more than zero).
    pub fn new(count: u32, per: Duration) -> Option<Rate> {
        (count > 0 && !per.is_zero()).then_some(Rate { count, per })
    }

    /// The time between two starts.
    pub fn interval(&self) -> Duration {
        self.per / self.count.max(1)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:?}", self.count, self.per)
    }
}

/// Why a text is not a [`Rate`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad rate {text:?}: {why}; write it as starts per time, e.g. \"100/s\", \"5/m\" or \"10/30s\""
)]
pub struct RateError {
    text: String,
    why: &'static str,
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Rate, RateError> {
        let error = |why| RateError {
            text: text.to_owned(),
            why,
        };
        let (count, per) = text.trim().split_once('/').ok_or(error("no `/`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| error("the count is not a whole number"))?;
        let per = per.trim();
        let digits = per.find(|c: char| !c.is_ascii_digit()).unwrap_or(per.len());
        let (number, unit) = per.split_at(digits);
        let number: u64 = match number {
            "" => 1,
            n => n.parse().map_err(|_| error("the time is too long"))?,
        };
        let unit = match unit {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(error("the time's unit is not `ms`, `s`, `m` or `h`")),
        };
        let per = unit
            .checked_mul(u32::try_from(number).map_err(|_| error("the time is too long"))?)
            .ok_or(error("the time is too long"))?;
        Rate::new(count, per).ok_or(error("the count and the time must be more than zero"))
    }
}
