// mistakes: 1 (no such weights file)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/no_such_file.safetensors" {
        input pixels: [f32; 64];
        let probs = Dense(10, activation = softmax)(pixels);
        output probs;
    }
}

fn main() {}
