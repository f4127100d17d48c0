//! # kiln — Keras-style neural networks for Rust, compiled
//!
//! placeholder
extern crate self as kiln;

pub mod activations;
pub mod error;
pub mod gemm;
pub mod initializers;
pub mod layers;
pub mod param;
pub mod sample;
pub mod testing;

pub use error::{Error, Result};
