// mistakes: 1
kiln::model! {
    struct M {
        input tokens: [u32; 16];
        let e = Embedding(4, 8)(tokens);
        let s = LSTM(8, return_sequences = true)(e);
        let pooled = reduce_sum(s, axis = 3);
        output pooled;
    }
}

fn main() {}
