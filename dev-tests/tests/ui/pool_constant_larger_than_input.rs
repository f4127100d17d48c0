// mistakes: 1 (a size from a constant is checked by rustc, with the layer, the pool and the input shape)
const STEPS: usize = 3;

kiln::model! {
    struct M {
        input x: [f32; STEPS, 2];
        let p = AveragePooling1D(pool_size = 4)(x);
        let f = Flatten()(p);
        output f;
    }
}

fn main() {}
