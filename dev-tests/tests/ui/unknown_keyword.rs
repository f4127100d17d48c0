// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4, activaton = relu)(x);
        output h;
    }
}

fn main() {}
