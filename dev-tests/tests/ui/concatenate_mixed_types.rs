// mistakes: 1
kiln::model! {
    struct M {
        input ids: [u32; 4];
        input x: [f32; 4];
        let c = concatenate([ids, x]);
        let e = Embedding(10, 2)(c);
        output e;
    }
}

fn main() {}
