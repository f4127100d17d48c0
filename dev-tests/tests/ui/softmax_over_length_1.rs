// mistakes: 1 (the old code compiled it; every step's output was 1.0)
kiln::model! {
    struct M {
        input steps: [f32; 4, 8];
        let scores = TimeDistributed(Dense(1))(steps);
        let weights = Activation(softmax)(scores);
        output weights;
    }
}

fn main() {}
