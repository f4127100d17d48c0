// mistakes: 1
kiln::model! {
    struct M {
        input ids: [u32; 8, 2];
        let p = MaxPooling1D()(ids);
        let f = Flatten()(p);
        output f;
    }
}

fn main() {}
