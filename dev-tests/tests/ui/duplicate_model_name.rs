// mistakes: 1 (two models named `Net` in one module)
kiln::model! {
    struct Net {
        input x: [f32; 8];
        let y = Dense(4)(x);
        output y;
    }
}

kiln::model! {
    struct Net {
        input x: [f32; 3];
        let h = Dense(8, activation = relu)(x);
        let y = Dense(2)(h);
        output y;
    }
}

fn main() {
    let _ = Net::new(0);
}
