// mistakes: 1 (a size from a constant: rustc checks the cropping leaves some of it)
const STEPS: usize = 3;

kiln::model! {
    struct M {
        input x: [f32; STEPS, 2];
        let y = Cropping1D((2, 1))(x);
        output y;
    }
}

fn main() {}
