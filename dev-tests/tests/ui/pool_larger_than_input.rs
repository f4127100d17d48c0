// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 2, 8, 1];
        let p = MaxPooling2D(pool_size = (3, 3))(x);
        let f = Flatten()(p);
        output f;
    }
}

fn main() {}
