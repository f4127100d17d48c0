// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 6];
        let y = Reshape((4, 5))(x);
        output y;
    }
}

fn main() {}
