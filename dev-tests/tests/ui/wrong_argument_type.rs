// mistakes: 2
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(units = "four", use_bias = 1)(x);
        output h;
    }
}

fn main() {}
