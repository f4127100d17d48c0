// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = custom(Mystery::new())(x);
        output y;
    }
}

fn main() {}
