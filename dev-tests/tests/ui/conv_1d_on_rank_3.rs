// mistakes: 1
kiln::model! {
    struct M {
        input image: [f32; 28, 28, 1];
        let h = Conv1D(8, 3)(image);
        output h;
    }
}

fn main() {}
