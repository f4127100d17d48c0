// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 16];
        let e = Embedding(4, 8)(x);
        let h = LSTM(8)(e);
        output h;
    }
}

fn main() {}
