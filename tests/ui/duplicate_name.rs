// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4)(x);
        let h = Dense(2)(h);
        output h;
    }
}

fn main() {}
