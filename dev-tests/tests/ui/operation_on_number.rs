// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let s = add(3);
        let h = Dense(2)(x);
        output h;
    }
}

fn main() {}
