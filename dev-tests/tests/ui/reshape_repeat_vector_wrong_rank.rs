// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 6];
        let y = RepeatVector(3)(x);
        output y;
    }
}

fn main() {}
