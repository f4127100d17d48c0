//! # kiln — Keras-style neural networks for Rust, compiled
//!
//! [`model!`] turns a Keras functional-API graph into a plain Rust struct:
//! every tensor's shape is checked while the program compiles, the forward
//! and backward passes are generated code, and
//! `predict_one` runs without touching the heap. The rest of the crate is
//! the Keras workflow: [`train::Compile::compile`], [`train::Model::fit`],
//! `evaluate`, `predict`, callbacks, with Keras's names, defaults and
//! formulas.
//!
//! ```
//! use kiln::prelude::*;
//!
//! kiln::model! {
//!     /// Two features to a probability.
//!     pub struct Classifier {
//!         input features: [f32; 2];
//!         let hidden = Dense(16, activation = relu)(features);
//!         let prob = Dense(1, activation = sigmoid)(hidden);
//!         output prob;
//!     }
//! }
//!
//! // Points above the line y = x are class 1.
//! let x: Vec<[f32; 2]> = (0..200).map(|i| [(i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 5.0 - 1.0]).collect();
//! let y: Vec<[f32; 1]> = x.iter().map(|p| [(p[1] > p[0]) as u8 as f32]).collect();
//!
//! let mut model = Classifier::new(0).compile(Adam::new(0.05), BinaryCrossentropy, &[Metric::Accuracy]);
//! println!("{}", model.summary());
//! let history = model.fit(&x, &y).epochs(40).batch_size(16).verbose(0).run()?;
//! assert!(history.get("accuracy").unwrap().last().unwrap() > &0.9);
//! let p: [f32; 1] = model.predict_one(&[-0.5, 0.5]); // allocation-free
//! assert!(p[0] > 0.5);
//! # Ok::<(), kiln::Error>(())
//! ```
//!
//! ## Map of the crate
//! - [`model!`] — the DSL; [`network::Network`] — what it generates.
//! - [`layers`] — one file per layer, forward and backward side by side.
//! - [`activations`], [`initializers`], [`losses`], [`metrics`], [`optimizers`].
//! - [`train`] — `compile`, `fit`, `evaluate`, `predict`, callbacks, history.
//! - [`gemm`], [`parallel`], [`simd`] — the kernels and threads underneath.
//! - [`data`] — reading CSV / IDX files, standardization, splits.
//! - [`io`] — weights files, checkpoints, atomic writes.
//! - [`testing`] — finite-difference gradient checks for your own layers.
#![warn(missing_docs)]

// Every runtime item, as `kiln::…`: kiln-core is kiln's runtime, a crate
// of its own only so that it compiles beside the macro (runtime/Cargo.toml).
#[doc(inline)]
pub use kiln_core::*;

/// Generates a model from a Keras-style graph.
///
/// ```text
/// model  := attr* vis "struct" Name "{" stmt* "}"
///         | attr* vis "struct" Name "from" "path.keras" ";"               // a Keras model, imported
/// stmt   := "input" name ":" "[" ("f32" | "u32") ";" dim ("," dim)* "]" ";"
///         | "let" name "=" Layer "(" args ")" "(" tensor ")" ";"          // apply a new layer
///         | "let" name "=" Layer "(" args ")" ";"                         // bind a layer …
///         | "let" name "=" layer "(" tensor ")" ";"                       // … and call it (shared weights)
///         | "let" name "=" op "(" tensor-or-list ("," args)? ")" ";"      // reduce_sum(x, axis = 1), add([a, b])
///         | "let" name "=" tensor ("=>" Layer "(" args ")")+ ";"          // a Sequential chain
///         | "let" name ":" "[" dim,* "]" "=" "custom" ("::<" Type ">")? "(" expr ")" ("(" tensor ")")? ";"
///         | "output" tensor ("," tensor)* ";"
/// args   := Keras's arguments, positional where Keras has them, or `keyword = value`
/// ```
///
/// Layers: `Dense(units, activation, use_bias, kernel_initializer,
/// bias_initializer)`, `Activation(activation)`, `Flatten()`,
/// `Embedding(input_dim, output_dim, embeddings_initializer)`,
/// `SimpleRNN` / `LSTM` / `GRU(units, activation, recurrent_activation,
/// use_bias, return_sequences, kernel_initializer, recurrent_initializer,
/// bias_initializer, unit_forget_bias)`, `TimeDistributed(Layer(…))`.
/// Operations: `reduce_sum` / `reduce_mean` / `reduce_max(x, axis)` (axes
/// count the batch axis, as in TensorFlow), `concatenate([a, b], axis)`,
/// `add`, `subtract`, `multiply`, `average`, `maximum`, `minimum`. Every
/// layer takes `name = "…"` (default: Keras's automatic names `dense`,
/// `dense_1`, …); activations and initializers are Keras's names, as
/// identifiers or strings. `custom(…)` places any value implementing
/// [`layers::Layer`] — a user's layer, or another generated model of one
/// input and one output — with its output shape written on the line.
///
/// The macro generates:
/// - `pub struct Name` with one field per layer, typed with its dimensions
///   (`Dense<784, 300>`), and `Name::new(seed)` initializing it as Keras does;
/// - `impl Network for Name`: batched `forward`, the generated `backward`
///   (reverse topological order; gradients summed where a tensor fans out;
///   a layer called several times accumulates its gradient over the calls),
///   parameter visitors, `summary()`;
/// - `Name::predict_one(&input, …)` on plain arrays, allocation-free (it
///   returns a `Result` when ids must be checked against an `Embedding`);
/// - for one input and one output, `impl Layer for Name`, so the model can
///   be a layer of another model or run under `TimeDistributed`;
/// - `Name::to_json()`: the architecture as Keras 3's model config
///   (`keras.models.model_from_json` rebuilds it).
///
/// `struct Name from "path";` imports the architecture of a Keras 3 model
/// at compile time: the `config.json` of a `.keras` file (feature
/// `keras-weights`), or a JSON config (`model.to_json()`), the path
/// relative to the crate's `Cargo.toml`. The
/// config becomes the statements above (same checks, errors at the path);
/// a layer kiln lacks, or an argument kiln does not implement holding
/// other than Keras's default (`LSTM(dropout = 0.2)`), is a compile error
/// naming the layer and the argument. Load the weights with
/// `io::load_keras_weights` (feature `keras-weights`).
///
/// Every mistake in the graph is a compile error pointing at the offending
/// token, and all of a graph's errors are reported in one build:
///
/// ```compile_fail
/// kiln::model! {
///     struct Broken {
///         input tokens: [u32; 16];
///         let h = Dense(4)(tokens); // `Dense` needs float input, but `tokens` holds integer ids [16]
///         output h;
///     }
/// }
/// # fn main() {}
/// ```
pub use kiln_macros::model;
