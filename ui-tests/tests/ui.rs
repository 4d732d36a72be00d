//! Compile-fail and compile-pass cases of `#[node]` and `pipeline!`. The `.stderr` files hold the
//! exact diagnostics of rustc 1.95 (the toolchain of this project), reviewed by hand; other compiler
//! versions word diagnostics differently, so they skip these cases with a reason.

#[rustversion::attr(
    not(stable(1.95)),
    ignore = "the .stderr files are written for stable rustc 1.95; other compilers word diagnostics differently"
)]
#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/pass/*.rs");
    cases.compile_fail("tests/node/*.rs");
    cases.compile_fail("tests/pipeline/*.rs");
    cases.compile_fail("tests/api/*.rs");
}
