// mistakes: 1
kiln::model! {
    struct M {
        input x: [u32; 8];
        let y = BatchNormalization()(x);
        output y;
    }
}

fn main() {}
