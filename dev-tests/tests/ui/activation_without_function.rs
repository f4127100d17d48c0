// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Activation(name = "act")(x);
        output y;
    }
}

fn main() {}
