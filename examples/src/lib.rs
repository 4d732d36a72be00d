//! Runnable examples of the `pipeline` crate: see `examples/`.
