// mistakes: 1 (the file holds NaN in `dense_1/bias`: a damaged file, refused as load_weights refuses it;
// digits_nan.safetensors is digits.safetensors with dense_1/bias[3] overwritten by a NaN)
kiln::model! {
    struct Digits embed "tests/fixtures/embedded/digits_nan.safetensors" {
        input pixels: [f32; 64];
        let hidden = Dense(64, activation = relu)(pixels);
        let probs = Dense(10, activation = softmax)(hidden);
        output probs;
    }
}

fn main() {}
