// mistakes: 1 (the file's output layer has a bias; this one has none)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax, use_bias = false)(hidden);
        output probs;
    }
}

fn main() {}
