// mistakes: 1
kiln::model! {
    struct M {
        let h = Dense(4, input_dim = 0)(x);
        output h;
    }
}

fn main() {}
