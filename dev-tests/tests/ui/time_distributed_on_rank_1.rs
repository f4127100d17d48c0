// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = TimeDistributed(Dense(4))(x);
        output y;
    }
}

fn main() {}
