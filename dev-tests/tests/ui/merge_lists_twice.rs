// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4];
        let h = Dense(4)(a);
        let s = add([h, h]);
        output s;
    }
}

fn main() {}
