// mistakes: 1 (the old code compiled it; the model then always predicted 1.0)
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(16, activation = relu)(x);
        let p = Dense(1, activation = softmax)(h);
        output p;
    }
}

fn main() {}
