// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(units = 0)(x);
        output h;
    }
}

fn main() {}
