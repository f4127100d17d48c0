// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let shared = Dense(4);
        let a = shared(x);
        let b = shared(a);
        output b;
    }
}

fn main() {}
