// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let dead = Dense(3)(x);
        let h = Dense(4)(x);
        output h;
    }
}

fn main() {}
