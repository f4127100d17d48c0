// mistakes: 1 (the old message named `y__2`, a name the user never wrote)
kiln::model! {
    struct M {
        input x: [f32; 4, 4];
        let y = x => Flatten() => Dense(4) => LSTM(8);
        output y;
    }
}

fn main() {}
