// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let h = Dense(-3)(x);
        output h;
    }
}

fn main() {}
