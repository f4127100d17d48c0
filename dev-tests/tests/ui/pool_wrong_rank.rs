// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8, 2];
        let p = AveragePooling2D(2)(x);
        let f = Flatten()(p);
        output f;
    }
}

fn main() {}
