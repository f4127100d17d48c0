// mistakes: 1 (code using a model with an error adds no errors of its own; the old unit-struct fallback added E0599 "no function or associated item named `new`" at each `Classifier::new`)
use kiln::prelude::*;

kiln::model! {
    /// Documented.
    #[derive(Clone)]
    pub struct Classifier {
        input x: [f32; 8];
        let h = Dense(4)(nowhere);
        output h;
    }
}

fn build() -> Classifier {
    Classifier::new(1)
}

fn main() {
    let x = vec![[0.5f32; 8]; 4];
    let y = vec![[1.0f32; 4]; 4];
    let mut model = Classifier::new(42).compile(Adam::new(0.01), MeanSquaredError, &[Metric::Accuracy]);
    model.fit(&x, &y).epochs(2).run().unwrap();
    let p: [f32; 4] = model.predict_one(&x[0]);
    println!("{p:?} {}", build().summary());
}
