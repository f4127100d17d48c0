// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let d = Dense(4);
        let a = d(x);
        let b = d(3);
        output a;
    }
}

fn main() {}
