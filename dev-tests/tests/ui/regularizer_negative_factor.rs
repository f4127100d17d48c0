// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dense(4, bias_regularizer = l2(-0.5))(x);
        output y;
    }
}

fn main() {}
