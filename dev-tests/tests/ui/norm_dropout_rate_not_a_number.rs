// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dropout(rate = "half")(x);
        output y;
    }
}

fn main() {}
