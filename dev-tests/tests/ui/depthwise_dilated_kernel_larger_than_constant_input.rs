// mistakes: 1 (a constant length is checked by rustc, with the kernel and the shape in the message)
const STEPS: usize = 4;

kiln::model! {
    struct M {
        input signal: [f32; STEPS, 2];
        let h = DepthwiseConv1D(3, dilation_rate = 2)(signal);
        output h;
    }
}

fn main() {}
