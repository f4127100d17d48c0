// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        output x;
    }
}

fn main() {}
