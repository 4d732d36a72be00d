//! Compile-fail tests of the `pipeline` macros live in `tests/`.
