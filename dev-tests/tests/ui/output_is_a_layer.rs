// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let shared = Dense(4);
        let h = shared(x);
        output shared;
    }
}

fn main() {}
