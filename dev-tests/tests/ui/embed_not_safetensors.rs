// mistakes: 1 (a Python script, not a safetensors file)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded.py" {
        input pixels: [f32; 64];
        let probs = Dense(10, activation = softmax)(pixels);
        output probs;
    }
}

fn main() {}
