// mistakes: 1
kiln::model! {
    struct M {
        let h = Dense(4, input_shape = (4,), input_dim = 4)(x);
        output h;
    }
}

fn main() {}
