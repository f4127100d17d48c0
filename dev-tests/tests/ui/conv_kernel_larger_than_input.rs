// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 3, 3, 1];
        let h = Conv2D(4, 5)(image);
        output h;
    }
}

fn main() {}
