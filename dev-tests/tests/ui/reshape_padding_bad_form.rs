// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 3, 4, 2];
        let y = ZeroPadding2D(((1, 2), 3))(image);
        output y;
    }
}

fn main() {}
