// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 3, 5];
        let y = TimeDistributed(Dense(2))(x);
        output y;
    }
}

fn main() {}
