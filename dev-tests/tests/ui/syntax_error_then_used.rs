// mistakes: 1 (a syntax error still defines the model's name)
kiln::model! {
    struct M {
        input x: [f32; 8];
        let h = Dense(4)(x)
        output h;
    }
}

fn main() {
    let m = M::new(0);
    println!("{}", m.summary());
}
