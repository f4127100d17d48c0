// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 6];
        let y = ZeroPadding2D(1)(x);
        output y;
    }
}

fn main() {}
