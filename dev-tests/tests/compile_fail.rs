//! Every class of error `model!` reports, with its expected message
//! checked in beside it (`dev-tests/tests/ui/*.stderr`). Regenerate after
//! a deliberate change with
//! `TRYBUILD=overwrite cargo test --features full --test compile_fail`
//! (from the repository's root) and review the diff.

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

/// `docs/ERRORS.md` as the cases and snapshots make it: for each case, its
/// first error as the title, the wrong model, and the full message.
fn errors_doc() -> String {
    let mut cases: Vec<_> = fs::read_dir("tests/ui")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    let mut doc = String::from(
        "# Errors of `model!`\n\n\
         Every error the `model!` macro reports, each with a minimal wrong model and the\n\
         message rustc prints. A mistake gives one error, at the token that makes it;\n\
         code using a model that has errors adds none. Sizes written as constants\n\
         (`MAXLEN`) are checked by rustc, so those errors read\n\
         `evaluation panicked: …` and show the constants' values.\n\n\
         This file is generated from the compile-fail cases in `dev-tests/tests/ui` and\n\
         their snapshots, and `dev-tests/tests/compile_fail.rs` fails if it differs from\n\
         them. After changing a message:\n\
         `TRYBUILD=overwrite cargo test --features full --test compile_fail`, review the\n\
         snapshots, then `KILN_BLESS_ERRORS=1 cargo test --features full --test compile_fail`\n\
         to rewrite this file.\n\n",
    );
    for case in &cases {
        let source = fs::read_to_string(case).unwrap();
        let stderr = fs::read_to_string(case.with_extension("stderr")).unwrap();
        let name = case.file_stem().unwrap().to_string_lossy();
        let titles: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("error"))
            .map(|l| l.split_once(": ").map(|(_, m)| m).unwrap_or(l))
            .collect();
        // The case's note, unless it is about how the old macro failed.
        let note = source
            .lines()
            .next()
            .unwrap_or_default()
            .split_once('(')
            .map(|(_, n)| n.trim_end_matches(')'))
            .filter(|n| !n.contains("old"));
        let model: String = source
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with("fn main() {}"))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_string();
        doc.push_str(&format!("## {}\n\n`dev-tests/tests/ui/{name}.rs`", titles.join(" / ")));
        if let Some(note) = note {
            doc.push_str(&format!(" — {note}"));
        }
        doc.push_str(&format!("\n\n```rust\n{model}\n```\n\n```text\n{}\n```\n\n", stderr.trim_end()));
    }
    doc
}

/// The generated list of errors, in the repository's docs (tests run in
/// this package's directory).
const ERRORS_DOC: &str = "../docs/ERRORS.md";

/// `docs/ERRORS.md` lists every case with its snapshot's message, so it
/// cannot go stale.
#[test]
fn errors_doc_matches_the_snapshots() {
    let expected = errors_doc();
    if std::env::var_os("KILN_BLESS_ERRORS").is_some() {
        fs::write(ERRORS_DOC, &expected).unwrap();
    }
    let actual = fs::read_to_string(ERRORS_DOC).unwrap_or_default();
    assert!(
        actual == expected,
        "docs/ERRORS.md differs from dev-tests/tests/ui; regenerate it with `KILN_BLESS_ERRORS=1 cargo test --features full --test compile_fail`"
    );
}
