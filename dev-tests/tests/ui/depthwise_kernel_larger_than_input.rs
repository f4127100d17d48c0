// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 4, 4, 3];
        let h = DepthwiseConv2D(5)(image);
        output h;
    }
}

fn main() {}
