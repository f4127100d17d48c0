// mistakes: 1
kiln::model! {
    struct M {
        input a: [f32; 4];
        let s = add([a]);
        output s;
    }
}

fn main() {}
