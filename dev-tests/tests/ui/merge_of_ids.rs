// mistakes: 1
kiln::model! {
    struct M {
        input a: [u32; 4];
        input b: [u32; 4];
        let s = add([a, b]);
        let e = Embedding(10, 2)(s);
        output e;
    }
}

fn main() {}
