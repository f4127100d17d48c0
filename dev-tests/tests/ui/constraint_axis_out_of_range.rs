// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dense(4, kernel_constraint = max_norm(2.0, axis = 2))(x);
        output y;
    }
}

fn main() {}
