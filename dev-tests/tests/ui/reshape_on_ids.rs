// mistakes: 1
kiln::model! {
    struct M {
        input tokens: [u32; 16];
        let y = Reshape((4, 4))(tokens);
        output y;
    }
}

fn main() {}
