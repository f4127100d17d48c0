// mistakes: 1
kiln::model! {
    struct M {
        input ids: [u32; 4, 2];
        let e = Embedding(10, 3)(ids);
        output e;
    }
}

fn main() {}
