// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dens(4)(x);
        output h;
    }
}

fn main() {}
