// mistakes: 1
kiln::model! {
    struct M {
        input signal: [f32; 32, 2];
        let h = Conv1D(4, 3, strides = -2)(signal);
        output h;
    }
}

fn main() {}
