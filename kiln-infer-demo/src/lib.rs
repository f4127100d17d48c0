//! A `#![no_std]` crate without `alloc` that embeds the digits MLP's
//! weights (`kiln_macros::model!` with `embed`) and classifies with them:
//! it builds only if the generated code needs neither `std`, `alloc` nor
//! kiln's runtime. `src/main.rs` links it into a bare-metal binary.
//!
//! ```text
//! cargo build -p kiln-infer-demo                  # on the host: the no_std library
//! cargo build -p kiln-infer-demo --features firmware --release --target thumbv7em-none-eabihf
//! ```

#![no_std]

kiln_macros::model! {
    /// 64 pixels (0 to 1) → 10 class probabilities, weights compiled in.
    pub struct Digits embed "../tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

/// The most probable digit for `pixels` (values 0 to 1, row by row).
pub fn classify(pixels: &[f32; 64]) -> usize {
    let probs = Digits.predict_one(pixels);
    let mut best = 0;
    for (k, p) in probs.iter().enumerate() {
        if *p > probs[best] {
            best = k;
        }
    }
    best
}

/// Bare metal has no standard library to provide one: stop.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
