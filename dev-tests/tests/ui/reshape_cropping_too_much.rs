// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 3, 4, 2];
        let y = Cropping2D(((2, 1), (0, 0)))(image);
        output y;
    }
}

fn main() {}
