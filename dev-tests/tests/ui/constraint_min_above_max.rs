// mistakes: 1 (`min_value` above the default `max_value` of 1)
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dense(4, kernel_constraint = min_max_norm(min_value = 2.0))(x);
        output y;
    }
}

fn main() {}
