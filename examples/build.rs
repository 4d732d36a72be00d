// The tests of the examples need what the tests crate's do: the same probe.
include!("../tests/build.rs");
