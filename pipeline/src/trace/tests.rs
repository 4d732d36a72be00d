//! TraceParent read and written as W3C says, and a run's trace stored as text.

use proptest::prelude::*;

use super::{RunTrace, TraceParent};

#[test]
fn a_traceparent_is_read_as_w3c_writes_it_and_anything_else_is_refused_with_a_reason() {
    let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let parent: TraceParent = text.parse().unwrap();
    assert!(!parent.sampled());
    assert_eq!(parent.to_string(), text);
    // A later version may add parts; version 00 may not.
    let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes";
    assert_eq!(
        later.parse::<TraceParent>().unwrap().span_id(),
        0x00f067aa0ba902b7
    );
    for (bad, reason) in [
        ("", "four parts"),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "version 00 has four",
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version",
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "trace id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "trace id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",
            "parent id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "all zeros",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "flags",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
            "parent id",
        ),
    ] {
        let error = bad.parse::<TraceParent>().unwrap_err();
        assert!(error.to_string().contains(reason), "{bad}: {error}");
        assert_eq!(error.value, bad);
    }
}

#[test]
fn a_run_trace_is_stored_as_text_and_read_back() {
    let run = TraceParent::new(7, 9, true).unwrap();
    let parent = TraceParent::new(7, 3, true);
    let trace = RunTrace { run, parent };
    let json = serde_json::to_string(&trace).unwrap();
    assert_eq!(
        json,
        r#"{"run":"00-00000000000000000000000000000007-0000000000000009-01","parent":"00-00000000000000000000000000000007-0000000000000003-01"}"#
    );
    assert_eq!(serde_json::from_str::<RunTrace>(&json).unwrap(), trace);
    let damaged = json.replace("-01\"}", "-0g\"}");
    let error = serde_json::from_str::<RunTrace>(&damaged).unwrap_err();
    assert!(error.to_string().contains("flags"), "{error}");
}

proptest! {
    #[test]
    fn every_valid_traceparent_reads_back_as_written(
        trace in 1u128.., span in 1u64.., sampled: bool
    ) {
        let parent = TraceParent::new(trace, span, sampled).unwrap();
        prop_assert_eq!(parent.to_string().parse::<TraceParent>().unwrap(), parent);
    }
}
