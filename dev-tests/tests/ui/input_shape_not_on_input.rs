// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4)(x);
        let y = Dense(2, input_dim = 4)(h);
        output y;
    }
}

fn main() {}
