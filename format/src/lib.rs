//! The file formats kiln reads and writes, shared by the runtime crate
//! (`kiln`) and the `model!` macro (`kiln-macros`), with no dependencies:
//!
//! - [`json`]: JSON values that print as serde_json prints them (compact
//!   and pretty), and a parser with serde_json's error wording;
//! - [`safetensors`]: the safetensors container (a JSON header, then the
//!   tensors' bytes), read and validated as the `safetensors` crate 0.8
//!   reads it, and written byte for byte as that crate writes it.
//!
//! Why not serde_json and the safetensors crate: they bring serde, its
//! derive and a second `syn`, about 10 s of CPU before kiln can start
//! compiling in a clean build (docs/DESIGN.md, "Build time").

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod json;
pub mod safetensors;
