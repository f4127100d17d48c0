// mistakes: 1
const N: usize = 5;

kiln::model! {
    struct M {
        input x: [f32; N];
        let h = Dense(4, input_shape = (6,))(x);
        output h;
    }
}

fn main() {}
