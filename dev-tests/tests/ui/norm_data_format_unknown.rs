// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 4, 3];
        let y = SpatialDropout2D(0.5, data_format = "channel_first")(x);
        output y;
    }
}

fn main() {}
