// mistakes: 1
kiln::model! {
    struct M from "tests/ui/keras_import_dense_on_sequence.json";
}

fn main() {}
