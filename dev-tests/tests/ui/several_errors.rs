// mistakes: 3
kiln::model! {
    struct M {
        input x: [f32; 8];
        let a = Dense(0)(x);
        let b = Conv9(3)(a);
        let c = Dense(4)(nowhere);
        output c;
    }
}

fn main() {}
