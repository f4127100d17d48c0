// mistakes: 1 (a size from a constant: rustc checks it, naming both shapes with the values)
const ROWS: usize = 4;

kiln::model! {
    struct M {
        input x: [f32; ROWS, 6];
        let y = Reshape((4, 5))(x);
        output y;
    }
}

fn main() {}
