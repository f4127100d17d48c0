// mistakes: 2 (orthogonal for a 1-D bias; identity for a 4-D convolution kernel)
kiln::model! {
    struct M {
        input x: [f32; 8, 8, 1];
        let c = Conv2D(4, 3, kernel_initializer = "identity")(x);
        let f = Flatten()(c);
        let y = Dense(4, bias_initializer = "orthogonal")(f);
        output y;
    }
}

fn main() {}
