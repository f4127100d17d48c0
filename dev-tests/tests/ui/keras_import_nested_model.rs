// mistakes: 1
// A TimeDistributed of a nested Sequential model (a real Keras file).
kiln::model! {
    struct M from "tests/fixtures/keras_files/time_distributed.keras";
}

fn main() {}
