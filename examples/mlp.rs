//! The tutorials' Fashion-MNIST MLP: Flatten → 300 relu → 100 relu → 10 softmax.

kiln::model! {
    /// 28×28 images to ten class probabilities.
    pub struct Mlp {
        input image: [f32; 28, 28];
        let flat = Flatten()(image);
        let hidden1 = Dense(300, activation = relu)(flat);
        let hidden2 = Dense(100, activation = relu)(hidden1);
        let probs = Dense(10, activation = softmax)(hidden2);
        output probs;
    }
}

fn main() {
    let model = Mlp::new(42);
    println!("{}", model.summary());
}
