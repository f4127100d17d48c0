// mistakes: 1
kiln::model! {
    struct M {
        let h = Dense(4, input_shape = "20")(x);
        output h;
    }
}

fn main() {}
