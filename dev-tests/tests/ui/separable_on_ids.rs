// mistakes: 1
kiln::model! {
    struct M {
        input tokens: [u32; 8, 8, 1];
        let h = SeparableConv2D(4, 3)(tokens);
        output h;
    }
}

fn main() {}
