//! Literal values whose syntax is the language's and which other tools read
//! too: a duration (`500ms`, `1.5s`, `2m`, `1h`) is parsed here for source
//! files and for the command line's `--timeout` alike.

use std::fmt;

/// The longest duration a literal may write, in milliseconds (about 31,700
/// years): long enough for any deadline, short enough to add safely.
pub const MAX_DURATION_MS: u64 = 1_000_000_000_000_000;

/// Why a text is not a duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not digits, an optional fraction and a unit (`ms`, `s`, `m`, `h`).
    Malformed,
    /// Longer than [`MAX_DURATION_MS`].
    TooLong,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DurationError::Malformed => "not a duration such as 500ms, 1.5s, 5m or 1h",
            DurationError::TooLong => "longer than any duration Flow allows",
        })
    }
}

impl std::error::Error for DurationError {}

/// The milliseconds a duration literal stands for, rounded to the nearest
/// millisecond: `1.5s` is 1500. Digits may be grouped with `_`.
pub fn duration_millis(text: &str) -> Result<u64, DurationError> {
    let (number, unit_ms) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1_000.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = text.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        return Err(DurationError::Malformed);
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (number, None),
    };
    let digits =
        |s: &str| s.starts_with(|c: char| c.is_ascii_digit()) && s.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !digits(whole) || fraction.is_some_and(|f| !digits(f)) {
        return Err(DurationError::Malformed);
    }
    let value: f64 = number.replace('_', "").parse().map_err(|_| DurationError::Malformed)?;
    let millis = (value * unit_ms).round();
    if !millis.is_finite() || millis > MAX_DURATION_MS as f64 {
        return Err(DurationError::TooLong);
    }
    Ok(millis as u64)
}

/// The placeholders of an http tool's URL template (`${name}`), each with
/// its byte range in the template and the text between the braces.
pub fn url_placeholders(template: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = template[from..].find("${").map(|i| i + from) {
        let Some(end) = template[start..].find('}').map(|i| i + start) else { break };
        found.push((start..end + 1, template[start + 2..end].trim()));
        from = end + 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_the_language_writes_them() {
        assert_eq!(duration_millis("500ms"), Ok(500));
        assert_eq!(duration_millis("1.5s"), Ok(1500));
        assert_eq!(duration_millis("2m"), Ok(120_000));
        assert_eq!(duration_millis("1h"), Ok(3_600_000));
        assert_eq!(duration_millis("1_000ms"), Ok(1000));
        assert_eq!(duration_millis("0.0005s"), Ok(1));
    }

    #[test]
    fn what_is_not_a_duration() {
        for text in ["", "s", "10", "1.s", ".5s", "-1s", "1 s", "1d", "1e3s", "1.5.2s", "_1s"] {
            assert_eq!(duration_millis(text), Err(DurationError::Malformed), "{text}");
        }
        assert_eq!(duration_millis("99999999999999999999h"), Err(DurationError::TooLong));
        assert_eq!(duration_millis("18446744073709551616ms"), Err(DurationError::TooLong));
    }
}
