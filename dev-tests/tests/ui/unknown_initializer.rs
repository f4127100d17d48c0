// mistakes: 1
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4, kernel_initializer = glorot_unifrom)(x);
        output h;
    }
}

fn main() {}
