// mistakes: 1
kiln::model! {
    struct M {
        input signal: [f32; 6, 4];
        let h = SeparableConv1D(8, 4, dilation_rate = 2)(signal);
        output h;
    }
}

fn main() {}
