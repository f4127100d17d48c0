// mistakes: 1
kiln::model! {
    struct M from "tests/ui/keras_import_unknown_layer.json";
}

fn main() {}
