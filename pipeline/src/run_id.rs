//! Run identifiers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest run id accepted, in bytes.
pub const MAX_RUN_ID_LEN: usize = 128;

/// The identifier of one run of a pipeline.
///
/// A run id becomes a file name in the file stores, so it accepts only `[A-Za-z0-9_-]{1,128}`:
/// no path separators, no dots, no NUL, nothing empty. Ids made by [`RunId::generate`] are UUID v7
/// strings, so they sort by creation time.
///
/// ```
/// use pipeline::RunId;
///
/// let id: RunId = "nightly-2026_11_28".parse()?;
/// assert_eq!(id.as_str(), "nightly-2026_11_28");
/// assert!("../../etc/passwd".parse::<RunId>().is_err());
/// # Ok::<(), pipeline::InvalidRunId>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(std::sync::Arc<str>);

/// Why a string was refused as a [`RunId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid run id {shown}: {reason}")]
pub struct InvalidRunId {
    shown: String,
    reason: &'static str,
}

impl InvalidRunId {
    fn new(input: &str, reason: &'static str) -> Self {
        // Show a bounded, escaped prefix: the input may be huge or contain control characters.
        let mut shown: String = input.chars().take(40).collect();
        if shown.len() < input.len() {
            shown.push('…');
        }
        InvalidRunId {
            shown: format!("{shown:?}"),
            reason,
        }
    }

    /// A short explanation of which rule the input broke.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl RunId {
    /// A fresh id: a UUID v7 (time-ordered) in its hyphenated form.
    pub fn generate() -> RunId {
        RunId(uuid::Uuid::now_v7().to_string().into())
    }

    /// Checks `s` against `[A-Za-z0-9_-]{1,128}`.
    pub fn new(s: impl AsRef<str>) -> Result<RunId, InvalidRunId> {
        let s = s.as_ref();
        if s.is_empty() {
            return Err(InvalidRunId::new(s, "it is empty"));
        }
        if s.len() > MAX_RUN_ID_LEN {
            return Err(InvalidRunId::new(s, "it is longer than 128 bytes"));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidRunId::new(
                s,
                "only ASCII letters, digits, `-` and `_` are allowed",
            ));
        }
        Ok(RunId(s.into()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RunId {
    type Err = InvalidRunId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunId::new(s)
    }
}

impl TryFrom<&str> for RunId {
    type Error = InvalidRunId;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        RunId::new(s)
    }
}

impl TryFrom<String> for RunId {
    type Error = InvalidRunId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        RunId::new(s)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({:?})", &*self.0)
    }
}

impl Serialize for RunId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        RunId::new(&*s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_sort_by_time() {
        let a = RunId::generate();
        let b = RunId::generate();
        assert!(RunId::new(a.as_str()).is_ok());
        assert!(a < b, "{a} should sort before {b}");
    }

    #[test]
    fn hostile_ids_are_rejected() {
        let long = "a".repeat(10_000);
        for bad in [
            "",
            "../../etc/passwd",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "nul\0byte",
            ".",
            "..",
            "run.ckpt",
            "héllo",
            " lead",
            long.as_str(),
        ] {
            assert!(RunId::new(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(RunId::new("a".repeat(128)).is_ok());
        assert!(RunId::new("a".repeat(129)).is_err());
    }

    #[test]
    fn error_message_is_bounded_and_escaped() {
        let err = RunId::new(format!("{}\0", "x".repeat(500))).unwrap_err();
        let msg = err.to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.contains("longer than 128"), "{msg}");
        let err = RunId::new("a\0b").unwrap_err();
        assert!(err.to_string().contains("\\0"), "{err}");
    }

    #[test]
    fn serde_round_trip_validates() -> Result<(), Box<dyn std::error::Error>> {
        let id = RunId::new("abc-1")?;
        let json = serde_json::to_string(&id)?;
        assert_eq!(json, "\"abc-1\"");
        assert_eq!(serde_json::from_str::<RunId>(&json)?, id);
        assert!(serde_json::from_str::<RunId>("\"../x\"").is_err());
        Ok(())
    }
}
