// mistakes: 1 (the old code took output_dim = 1 and then also reported `add` of [4] and [8])
kiln::model! {
    struct M {
        input ids: [u32; 4];
        let e = Embedding(100)(ids);
        let f = Flatten()(e);
        let g = Dense(8)(f);
        let s = add([f, g]);
        output s;
    }
}

fn main() {}
