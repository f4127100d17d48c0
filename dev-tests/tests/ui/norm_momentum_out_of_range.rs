// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = BatchNormalization(momentum = 1.5)(x);
        output y;
    }
}

fn main() {}
