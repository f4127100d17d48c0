// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4];
        input b: [f32; 4];
        let c = concatenate([a, b], axis = 3);
        output c;
    }
}

fn main() {}
