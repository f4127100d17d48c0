// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4];
        input b: [f32; 4];
        let h = Dense(4)(a, b);
        output h;
    }
}

fn main() {}
