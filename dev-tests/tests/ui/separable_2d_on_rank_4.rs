// mistakes: 1
kiln::model! {
    struct M {
        input volume: [f32; 8, 8, 8, 2];
        let h = SeparableConv2D(16, 3)(volume);
        output h;
    }
}

fn main() {}
