// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 28, 28];
        let h = DepthwiseConv2D(3, depth_multiplier = 2)(image);
        output h;
    }
}

fn main() {}
