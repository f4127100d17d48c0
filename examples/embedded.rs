//! A digits classifier whose weights are compiled into the binary:
//! `model! { struct M embed "weights.safetensors" { … } }` reads the file
//! at compile time, checks every tensor against the architecture, and
//! generates a `predict_one` that reads the weights in place (no heap, no
//! copy, no kiln runtime; the same code builds for `#![no_std]`, see
//! kiln-infer-demo/).
//!
//! ```text
//! cargo run --release --example embedded
//! ```
//!
//! The weights (a Keras MLP trained on data/digits.csv.gz) and the test
//! digits come from tests/fixtures/embedded.py.

#[allow(clippy::excessive_precision, dead_code)]
mod fixtures {
    include!("../tests/fixtures/embedded/expected.rs");
}

kiln::model! {
    /// 64 pixels (0 to 1) → 10 class probabilities, weights compiled in.
    pub struct Digits embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

/// A digit's 8×8 pixels as text, darker characters for higher values.
fn draw(pixels: &[f32; 64]) -> String {
    let shades = [' ', '.', ':', '+', '#'];
    let mut out = String::new();
    for row in pixels.chunks_exact(8) {
        out.extend(row.iter().map(|&p| shades[((p * 4.0).round() as usize).min(4)]));
        out.push('\n');
    }
    out
}

fn main() {
    let bytes = Digits::weights_bytes();
    println!("{} bytes of weights at {:p}, in the binary's read-only data", bytes.len(), bytes.as_ptr());
    let mut correct = 0;
    for (k, x) in fixtures::DIGITS_X.chunks_exact(64).enumerate() {
        let pixels: &[f32; 64] = x.try_into().expect("64 pixels");
        let probs = Digits.predict_one(pixels);
        let (class, p) =
            probs.iter().enumerate().fold((0, 0.0), |best, (c, &p)| if p > best.1 { (c, p) } else { best });
        let label = fixtures::DIGITS_LABELS[k] as usize;
        correct += usize::from(class == label);
        if k < 2 {
            print!("{}", draw(pixels));
        }
        println!("sample {k}: predicted {class} (p = {p:.3}), label {label}");
    }
    println!("{correct} of {} right", fixtures::DIGITS_SAMPLES);
}
