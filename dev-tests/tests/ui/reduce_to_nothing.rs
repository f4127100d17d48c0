// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let s = reduce_sum(x, axis = 1);
        output s;
    }
}

fn main() {}
