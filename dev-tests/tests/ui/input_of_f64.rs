// mistakes: 1
kiln::model! {
    struct M {
        input x: [f64; 4];
        let h = Dense(4)(x);
        output h;
    }
}

fn main() {}
