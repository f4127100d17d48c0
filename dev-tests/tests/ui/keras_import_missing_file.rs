// mistakes: 1
kiln::model! {
    struct M from "tests/fixtures/keras_files/no_such_model.keras";
}

fn main() {}
