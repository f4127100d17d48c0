// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let d = Dense(4);
        let y = d(x)(x);
        output y;
    }
}

fn main() {}
