// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 16, 16, 3];
        let h = Conv2D(4, 3, padding = sam)(image);
        output h;
    }
}

fn main() {}
