// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 3, 4, 2];
        let y = UpSampling2D(size = 2, interpolation = "bilinear")(image);
        output y;
    }
}

fn main() {}
