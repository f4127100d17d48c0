// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4, input_shape = (16,))(x);
        output h;
    }
}

fn main() {}
