// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let d = Dense(4, input_dim = 8);
        let y = d(x);
        output y;
    }
}

fn main() {}
