// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 3];
        let y = BatchNormalization(axis = 3)(x);
        output y;
    }
}

fn main() {}
