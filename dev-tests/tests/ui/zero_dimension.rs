// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 0];
        let h = Dense(4)(x);
        output h;
    }
}

fn main() {}
