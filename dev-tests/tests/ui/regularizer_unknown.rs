// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let y = Dense(4, kernel_regularizer = l3(0.01))(x);
        output y;
    }
}

fn main() {}
