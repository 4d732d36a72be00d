//! Store addresses with their secrets hidden: what every error, log line and message shows of a
//! `--store` value. A PostgreSQL URL may carry a password in its user info
//! (`postgres://u:secret@host/db`) or its query (`?password=secret`), and a key-value conninfo
//! in a `password=` pair; each is shown as `***`.

/// `spec` with every password in it replaced by `***`.
///
/// ```
/// # use pipeline::store::redact;
/// assert_eq!(redact("postgres://u:hunter2@db/x?sslmode=require&password=p2"),
///            "postgres://u:***@db/x?sslmode=require&password=***");
/// assert_eq!(redact("host=db user=u password='a b' dbname=x"),
///            "host=db user=u password=*** dbname=x");
/// assert_eq!(redact("./runs"), "./runs");
/// ```
pub fn redact(spec: &str) -> String {
    let spec = match spec.find("://") {
        Some(scheme) => redact_userinfo(spec, scheme + 3),
        None => spec.to_owned(),
    };
    redact_pairs(&spec)
}

/// Hides the password of the user info that starts at `start` (`user:password@`).
fn redact_userinfo(url: &str, start: usize) -> String {
    let rest = &url[start..];
    // The user info ends at the last `@` of the authority (before any `/`, `?` or `#`).
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..start], &rest[at..]),
        None => url.to_owned(),
    }
}

/// Hides the value of every `password=` pair (a URL query's, or a conninfo's, quoted or not).
fn redact_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = find_key(rest) {
        let (before, after) = rest.split_at(found);
        out.push_str(before);
        let eq = after.find('=').map_or(after.len(), |i| i + 1);
        out.push_str(&after[..eq]);
        out.push_str("***");
        rest = skip_value(after[eq..].trim_start());
    }
    out.push_str(rest);
    out
}

/// Where the next `password` key followed by `=` starts (at a word's start).
fn find_key(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("password") {
        let at = from + i;
        let starts_word = at == 0 || matches!(text.as_bytes()[at - 1], b' ' | b'\t' | b'?' | b'&');
        let after = lower[at + "password".len()..].trim_start();
        if starts_word && after.starts_with('=') {
            return Some(at);
        }
        from = at + "password".len();
    }
    None
}

/// What follows a value: a quoted conninfo value ends at its closing quote, any other at
/// whitespace or `&`.
fn skip_value(value: &str) -> &str {
    if let Some(quoted) = value.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '\'') => return &quoted[i + 1..],
                _ => escaped = false,
            }
        }
        return "";
    }
    let end = value.find([' ', '\t', '&']).unwrap_or(value.len());
    &value[end..]
}

/// Whether `spec` is a PostgreSQL key-value conninfo (`host=... dbname=...`): its first word is
/// `KEY=` with a key libpq knows.
pub(crate) fn is_conninfo(spec: &str) -> bool {
    const KEYS: [&str; 12] = [
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "sslmode",
        "application_name",
        "connect_timeout",
        "options",
        "target_session_attrs",
        "channel_binding",
    ];
    let first = spec.split_whitespace().next().unwrap_or("");
    first
        .split_once('=')
        .is_some_and(|(key, _)| KEYS.contains(&key.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_wherever_they_are_written() {
        let cases = [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            (
                "postgresql://u@h/db?password=pw",
                "postgresql://u@h/db?password=***",
            ),
            (
                "postgres://h/db?sslmode=disable&password=pw&x=1",
                "postgres://h/db?sslmode=disable&password=***&x=1",
            ),
            ("postgres://u:p@w@h/db", "postgres://u:***@h/db"),
            (
                "host=h password=pw dbname=d",
                "host=h password=*** dbname=d",
            ),
            ("host=h PASSWORD = pw", "host=h PASSWORD =***"),
            (r"password='it\'s secret' host=h", "password=*** host=h"),
            ("mysql://u:pw@h/db", "mysql://u:***@h/db"),
            ("sqlite://runs.db", "sqlite://runs.db"),
            ("./runs", "./runs"),
            ("my_password=no", "my_password=no"),
        ];
        for (spec, shown) in cases {
            assert_eq!(redact(spec), shown, "{spec}");
            assert!(
                !redact(spec).contains("pw") || !spec.contains("pw"),
                "{spec}"
            );
        }
    }

    #[test]
    fn a_conninfo_is_told_from_a_path() {
        assert!(is_conninfo("host=127.0.0.1 user=u password=p"));
        assert!(is_conninfo("dbname=x"));
        assert!(!is_conninfo("./runs"));
        assert!(!is_conninfo("runs=1"));
    }
}
