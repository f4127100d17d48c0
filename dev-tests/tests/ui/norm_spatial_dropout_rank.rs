// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = SpatialDropout1D(0.2)(x);
        output y;
    }
}

fn main() {}
