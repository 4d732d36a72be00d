//! Amounts as the command line reads them: ages (`30d`, `12h`, `90m`, `45s`) and sizes
//! (`500MB`, `2GB`, `64KB`, `1000`), each refused with the option that gave it.

use super::error::CliError;

/// `30d`, `12h`, `90m`, `45s` given to `option`, in milliseconds.
pub(crate) fn age_ms_of(option: &str, text: &str) -> Result<u64, CliError> {
    let invalid = || CliError::InvalidOption {
        option: option.to_owned(),
        reason: format!("`{text}` is not an age like `30d`, `12h`, `90m` or `45s`"),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => return Err(invalid()),
    };
    number.checked_mul(unit_ms).ok_or_else(invalid)
}

/// `500MB`, `2GB`, `64KB`, `1000` given to `option`, in bytes.
pub(crate) fn size_bytes(option: &str, text: &str) -> Result<u64, CliError> {
    let invalid = || CliError::InvalidOption {
        option: option.to_owned(),
        reason: format!("`{text}` is not a size like `500MB`, `2GB`, `64KB` or `1000`"),
    };
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        _ => return Err(invalid()),
    };
    number.checked_mul(scale).ok_or_else(invalid)
}
