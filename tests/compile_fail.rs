//! Every class of error `model!` reports, with its expected message
//! checked in beside it (`tests/ui/*.stderr`). Regenerate after a
//! deliberate change with `TRYBUILD=overwrite cargo test --test compile_fail`
//! and review the diff.

#[test]
fn model_errors_are_spanned_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
