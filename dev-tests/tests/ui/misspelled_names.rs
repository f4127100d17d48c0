// mistakes: 3 (a layer in the wrong case, a misspelled tensor, a misspelled operation)
kiln::model! {
    struct M {
        input tokens: [f32; 16, 8];
        let h = lstm(32, return_sequences = true)(tokens);
        let e = Dense(4)(tokns);
        let s = reduce_summ(e, axis = 1);
        output h, s;
    }
}

fn main() {}
