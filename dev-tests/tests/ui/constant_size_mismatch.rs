// mistakes: 1 (sizes from constants are checked by rustc, with the layer and both shapes in the message)
const MAXLEN: usize = 16;
const WIDTH: usize = 8;

kiln::model! {
    struct M {
        input ids: [u32; MAXLEN];
        input features: [f32; 20, WIDTH];
        let e = Embedding(100, WIDTH)(ids);
        let both = add([e, features]);
        let y = LSTM(4)(both);
        output y;
    }
}

fn main() {}
