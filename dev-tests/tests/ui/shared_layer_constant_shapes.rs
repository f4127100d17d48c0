// mistakes: 1
const N: usize = 5;

kiln::model! {
    struct M {
        input a: [f32; N];
        input b: [f32; 6];
        let d = Dense(4);
        let x = d(a);
        let y = d(b);
        let s = add([x, y]);
        output s;
    }
}

fn main() {}
