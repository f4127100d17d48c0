// mistakes: 2
kiln::model! {
    struct M from "tests/ui/keras_import_lstm_options.json";
}

fn main() {}
