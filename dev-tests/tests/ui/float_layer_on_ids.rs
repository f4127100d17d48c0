// mistakes: 1
kiln::model! {
    struct M {
        input tokens: [u32; 16];
        let h = Dense(4)(tokens);
        output h;
    }
}

fn main() {}
