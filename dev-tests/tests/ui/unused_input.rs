// mistakes: 1 (the old message said to make the input an `output`, which is an error too)
kiln::model! {
    struct M {
        input x: [f32; 8];
        input extra: [f32; 3];
        let y = Dense(2)(x);
        output y;
    }
}

fn main() {}
