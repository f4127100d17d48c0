// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let a = Dense(4)(x);
        let b = Dense(5)(x);
        let c = add([a, b]);
        output c;
    }
}

fn main() {}
