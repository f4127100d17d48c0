// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 64];
        let h = LSTM(32)(x);
        output h;
    }
}

fn main() {}
