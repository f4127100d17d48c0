// mistakes: 1 (the old code took units = 1 and then also reported `add` of [1] and [4])
kiln::model! {
    struct M {
        input x: [f32; 8];
        let a = Dense(units = "four")(x);
        let b = Dense(4)(x);
        let c = add([a, b]);
        output c;
    }
}

fn main() {}
