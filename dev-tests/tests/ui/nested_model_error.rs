// mistakes: 1 (a mistake in a model used as a layer of another)
kiln::model! {
    pub struct Inner {
        input x: [f32; 6];
        let p = Dense(3, activaton = softmax)(x);
        output p;
    }
}

kiln::model! {
    struct Outer {
        input x: [f32; 6];
        let inner: [3] = custom(Inner::new(1))(x);
        let y = Dense(2)(inner);
        output y;
    }
}

fn main() {
    let _ = Outer::new(0).summary();
}
