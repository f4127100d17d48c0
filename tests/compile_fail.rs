//! Every class of error `model!` reports, with its expected message
//! checked in beside it (`tests/ui/*.stderr`). Regenerate after a
//! deliberate change with `TRYBUILD=overwrite cargo test --test compile_fail`
//! and review the diff.

use std::fs;
use std::path::Path;

#[test]
fn model_errors_are_spanned_compile_errors() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}

/// The number a case declares on its first line: `// mistakes: 2 (…)`.
fn declared_mistakes(case: &Path) -> usize {
    let text = fs::read_to_string(case).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let count = first.strip_prefix("// mistakes: ").unwrap_or_else(|| {
        panic!("{} must start with `// mistakes: N`, the number of mistakes it makes", case.display())
    });
    let digits: String = count.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{}: bad mistake count `{count}`", case.display()))
}

/// One mistake, one error: a snapshot may hold no more errors (and, since
/// every mistake must be reported, no fewer) than its case has mistakes. A
/// cascade (an error about generated code, or about code using a model
/// that failed) shows up here as a surplus.
#[test]
fn each_snapshot_has_one_error_per_mistake() {
    let mut cases: Vec<_> = fs::read_dir("tests/ui")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "found only {} cases", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let stderr = fs::read_to_string(case.with_extension("stderr"))
            .unwrap_or_else(|_| panic!("{} has no .stderr snapshot", case.display()));
        // Each diagnostic starts with a line `error: …` or `error[E…]: …`;
        // rustc's closing "aborting due to" lines are not in snapshots.
        let errors = stderr.lines().filter(|l| l.starts_with("error:") || l.starts_with("error[")).count();
        let warnings = stderr.lines().filter(|l| l.starts_with("warning")).count();
        let mistakes = declared_mistakes(case);
        if errors != mistakes || warnings != 0 {
            wrong.push(format!("{}: {mistakes} mistake(s), {errors} error(s), {warnings} warning(s)", case.display()));
        }
    }
    assert!(wrong.is_empty(), "snapshots whose error count differs from their mistakes:\n{}", wrong.join("\n"));
}
