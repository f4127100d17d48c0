// mistakes: 1
kiln::model! {
    struct M {
        input ids: [u32; 8];
        let e = Embedding(10, 4, embedding_regularizer = l2(0.01))(ids);
        let y = Flatten()(e);
        output y;
    }
}

fn main() {}
