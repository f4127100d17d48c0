// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4];
        let s = reduce_sum(axis = 1);
        let h = Dense(2)(x);
        output h;
    }
}

fn main() {}
