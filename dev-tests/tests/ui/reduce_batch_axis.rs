// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 8];
        let pooled = reduce_mean(x, axis = 0);
        let y = Dense(2)(pooled);
        output y;
    }
}

fn main() {}
