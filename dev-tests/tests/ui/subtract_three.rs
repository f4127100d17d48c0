// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4];
        input b: [f32; 4];
        input c: [f32; 4];
        let d = subtract([a, b, c]);
        output d;
    }
}

fn main() {}
