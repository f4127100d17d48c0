// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = LayerNormalization(epsilon = 0.0)(x);
        output y;
    }
}

fn main() {}
