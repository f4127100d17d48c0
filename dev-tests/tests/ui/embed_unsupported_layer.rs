// mistakes: 1 (`Permute` has no compiled-in kernel yet)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/digits.safetensors" {
        input pixels: [f32; 8, 8];
        let turned = Permute((2, 1))(pixels);
        let flat = Flatten()(turned);
        let hidden = Dense(64, activation = relu)(flat);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

fn main() {}
