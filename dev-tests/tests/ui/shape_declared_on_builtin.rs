// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let h: [4] = Dense(4)(x);
        output h;
    }
}

fn main() {}
