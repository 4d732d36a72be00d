//! Writing to standard output, where a closed pipe (`ops runs | head`) ends the program quietly.

/// Writes `text` to standard output.
pub(super) fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// How to start this program again from where it was started, for the commands the command line
/// suggests: its name when it was found on `PATH` (`ops`), or its path when it was started by one
/// (`./ops`, or `target/debug/hello` as `cargo run` starts it), relative to the current directory
/// when it lies under it; quoted for a shell when it needs to be.
pub(super) fn program() -> String {
    let Some(arg0) = std::env::args_os().next() else {
        return "pipeline".to_owned();
    };
    let path = std::path::Path::new(&arg0);
    let shown = if path.components().count() > 1 {
        let here = std::env::current_dir().ok();
        let under = here
            .as_deref()
            .and_then(|here| path.strip_prefix(here).ok());
        match under {
            // `./ops`: a bare name would be looked up on `PATH`.
            Some(relative) if relative.components().count() == 1 => {
                format!("./{}", relative.to_string_lossy())
            }
            Some(relative) => relative.to_string_lossy().into_owned(),
            None => path.to_string_lossy().into_owned(),
        }
    } else {
        path.to_string_lossy().into_owned()
    };
    shell_word(&shown)
}

/// The `--store` this invocation was given on its command line (as written, its passwords
/// hidden), which a suggested command must repeat: without it, the command would look for the run
/// in the default store. Not set when the store came from `PIPELINE_STORE` (the shell still has
/// it) or is the default.
static STORE_FLAG: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Remembers the `--store` of `matches`, for [`again`].
pub(super) fn remember_store(matches: &clap::ArgMatches) {
    let given = matches.value_source("store") == Some(clap::parser::ValueSource::CommandLine);
    let raw = given
        .then(|| matches.get_raw("store")?.next())
        .flatten()
        .map(|spec| crate::store::redact(&spec.to_string_lossy()));
    *crate::sync::lock(&STORE_FLAG) = raw;
}

/// How to start this program again on the same store, for the commands the command line
/// suggests: [`program`], and `--store SPEC` when this invocation was given one.
pub(super) fn again() -> String {
    match &*crate::sync::lock(&STORE_FLAG) {
        Some(spec) => format!("{} --store {}", program(), shell_word(spec)),
        None => program(),
    }
}

/// `word` as one word for a POSIX shell: as it is when it is plain, single-quoted otherwise.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

/// `print!` through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::emit(&format!($($arg)*)) };
}

/// `println!` through [`emit`].
macro_rules! outln {
    ($($arg:tt)*) => { $crate::cli::output::emit(&format!("{}\n", format_args!($($arg)*))) };
}

pub(super) use {out, outln};

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn a_word_is_quoted_only_when_a_shell_would_split_or_expand_it() {
        assert_eq!(shell_word("target/debug/hello"), "target/debug/hello");
        assert_eq!(shell_word("/my runs/ops"), "'/my runs/ops'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$HOME/ops"), "'$HOME/ops'");
        assert_eq!(shell_word(""), "''");
    }
}
