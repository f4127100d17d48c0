// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        lett h = Dense(4)(x);
        output h;
    }
}

fn main() {}
