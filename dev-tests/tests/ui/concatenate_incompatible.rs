// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4, 8];
        input b: [f32; 5, 8];
        let c = concatenate([a, b]);
        let d = reduce_sum(c, axis = 1);
        output d;
    }
}

fn main() {}
