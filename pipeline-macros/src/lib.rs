//! Procedural macros for the [`pipeline`](https://docs.rs/pipeline) crate.
//!
//! This crate is an implementation detail of `pipeline`; depend on `pipeline` and use its prelude.
#![deny(missing_docs)]
