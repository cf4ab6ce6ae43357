//! `#[network]` compile errors (tests/ui/<group>/<case>.rs with `.stderr`
//! snapshots) and compile-pass cases for every supported form
//! (tests/ui-pass). See tests/ui/README.md for the compiler version.
//!
//! The pass cases in the same `TestCases` make trybuild *build* (not only
//! check) the compile-fail cases, so the layers' inline `const` assertions,
//! which fire at monomorphisation, are exercised too (dtolnay/trybuild#258).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
    t.pass("tests/ui-pass/*.rs");
}
