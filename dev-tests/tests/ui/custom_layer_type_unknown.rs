// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let y: [4] = custom(make_layer())(x);
        output y;
    }
}

fn main() {}
