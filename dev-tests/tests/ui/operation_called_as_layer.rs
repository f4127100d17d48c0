// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 3];
        let s = reduce_sum(axis = 1)(x);
        output s;
    }
}

fn main() {}
