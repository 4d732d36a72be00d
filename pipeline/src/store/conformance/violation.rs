//! A broken rule of the store protocol, and the one way a check reports it.

/// A rule of the store protocol that a store broke.
#[derive(Debug, thiserror::Error)]
#[error("the store breaks the protocol: {rule} (it answered {answer})")]
pub struct Violation {
    /// The rule.
    pub rule: &'static str,
    /// What the store did instead.
    pub answer: String,
}

pub(super) fn expect(
    ok: bool,
    rule: &'static str,
    answer: impl std::fmt::Debug,
) -> Result<(), Violation> {
    match ok {
        true => Ok(()),
        false => Err(Violation {
            rule,
            answer: format!("{answer:?}"),
        }),
    }
}
