// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 4, 3];
        let y = TimeDistributed(4)(x);
        output y;
    }
}

fn main() {}
