// mistakes: 1 (the output layer is named `out`; the file's is `dense_1`)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax, name = "out")(hidden);
        output probs;
    }
}

fn main() {}
