// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4)(later);
        let later = Dense(8)(x);
        output h;
    }
}

fn main() {}
