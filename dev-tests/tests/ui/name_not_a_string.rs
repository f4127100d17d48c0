// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let h = Dense(4, name = hidden)(x);
        output h;
    }
}

fn main() {}
