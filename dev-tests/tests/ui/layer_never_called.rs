// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let d = Dense(4);
        let h = Dense(2)(x);
        output h;
    }
}

fn main() {}
