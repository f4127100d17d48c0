// mistakes: 1 (12 classes; the weights file has 10)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(12, activation = softmax)(hidden);
        output probs;
    }
}

fn main() {}
