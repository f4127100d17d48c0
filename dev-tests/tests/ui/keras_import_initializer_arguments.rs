// mistakes: 1
kiln::model! {
    struct M from "tests/ui/keras_import_initializer_arguments.json";
}

fn main() {}
