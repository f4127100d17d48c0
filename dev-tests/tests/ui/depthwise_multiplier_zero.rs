// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 8, 8, 3];
        let h = DepthwiseConv2D(3, 1, same, 0)(image);
        output h;
    }
}

fn main() {}
