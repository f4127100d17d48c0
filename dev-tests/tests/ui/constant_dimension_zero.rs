// mistakes: 1
const EMPTY: usize = 0;

kiln::model! {
    struct M {
        input x: [f32; EMPTY];
        let h = Dense(4)(x);
        output h;
    }
}

fn main() {}
