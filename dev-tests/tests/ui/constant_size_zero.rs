// mistakes: 1
const HIDDEN: usize = 0;

kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(HIDDEN)(x);
        output h;
    }
}

fn main() {}
