// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 8];
        let h = GRU(8, activation = softmax)(x);
        output h;
    }
}

fn main() {}
