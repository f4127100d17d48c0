//! Nothing to use: this package holds kiln's compile-fail tests
//! (`tests/compile_fail.rs`, cases in `tests/ui/`). They live outside the
//! `kiln` package because cargo builds a package's dev-dependencies before
//! any of its examples, and trybuild with its TOML parser was a tenth of a
//! clean example build (docs/DESIGN.md, "Build time").
