//! Integration tests of the `pipeline` workspace live in `tests/`.
