// mistakes: 1 (Keras refuses strides > 1 with dilation_rate > 1)
kiln::model! {
    struct M {
        input image: [f32; 16, 16, 3];
        let h = Conv2D(4, 3, strides = 2, dilation_rate = 2)(image);
        output h;
    }
}

fn main() {}
