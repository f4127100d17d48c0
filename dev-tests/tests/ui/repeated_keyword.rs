// mistakes: 2 (the old code said `Dense` has no argument `activation`, and reported no error for `units`)
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4, activation = relu, activation = tanh)(x);
        let y = Dense(2, units = 3)(h);
        output y;
    }
}

fn main() {}
