// mistakes: 1 (tensor names may be rebound, a layer's name may not)
kiln::model! {
    struct M {
        input x: [f32; 8];
        let shared = Dense(4);
        let shared = shared(x);
        output shared;
    }
}

fn main() {}
