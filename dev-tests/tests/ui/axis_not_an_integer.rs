// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 3];
        let s = reduce_sum(x, axis = "one");
        output s;
    }
}

fn main() {}
