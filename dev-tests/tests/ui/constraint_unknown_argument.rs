// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dense(4, kernel_constraint = min_max_norm(0.0, 1.0, rte = 0.5))(x);
        output y;
    }
}

fn main() {}
