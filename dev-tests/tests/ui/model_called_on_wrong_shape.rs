// mistakes: 1
kiln::model! {
    pub struct Inner {
        input x: [f32; 6];
        let p = Dense(3, activation = softmax)(x);
        output p;
    }
}

kiln::model! {
    struct Outer {
        input x: [f32; 8];
        let inner: [3] = custom(Inner::new(1))(x);
        output inner;
    }
}

fn main() {}
