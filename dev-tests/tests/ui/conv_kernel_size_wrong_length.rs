// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 8, 8, 1];
        let h = Conv2D(4, kernel_size = (3, 3, 3))(image);
        output h;
    }
}

fn main() {}
