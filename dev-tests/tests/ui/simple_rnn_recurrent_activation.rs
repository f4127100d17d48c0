// mistakes: 1 (SimpleRNN has no gates: Keras refuses `recurrent_activation`; old code took it and ignored it)
kiln::model! {
    struct M {
        input x: [f32; 4, 2];
        let y = SimpleRNN(3, recurrent_activation = relu)(x);
        output y;
    }
}

fn main() {}
