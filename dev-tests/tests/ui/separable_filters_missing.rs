// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 8, 8, 3];
        let h = SeparableConv2D(kernel_size = 3, pointwise_initializer = he_normal)(image);
        output h;
    }
}

fn main() {}
