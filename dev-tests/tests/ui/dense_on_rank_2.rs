// mistakes: 1
kiln::model! {
    struct M {
        input embedded: [f32; 16, 64];
        let h = Dense(4)(embedded);
        output h;
    }
}

fn main() {}
