//! The tutorials' mixed model: two Sequential stacks whose outputs are
//! concatenated and fed to a third stack. Stacks are written as chains
//! (`x => Dense(8) => Activation(relu) => …`).
//!
//! ```text
//! cargo run --release --example mixed
//! ```

use kiln::prelude::*;

kiln::model! {
    /// (32 features, 128 features) → 1 value.
    pub struct Mixed {
        input a: [f32; 32];
        input b: [f32; 128];
        let part_a = a => Dense(8) => Activation(relu) => Dense(4);
        let part_b = b => Dense(32) => Activation(relu) => Dense(16);
        let combined = concatenate([part_a, part_b]);
        let y = combined => Dense(2) => Activation(relu) => Dense(1);
        output y;
    }
}

kiln::model! {
    /// The tutorials' Sequential model: Dense(4) → relu → Dense(1) on 2 features.
    pub struct Stack {
        input x: [f32; 2];
        let y = x => Dense(4) => Activation(relu) => Dense(1);
        output y;
    }
}

#[allow(dead_code)] // tests include this file for the models only
fn main() -> kiln::Result<()> {
    let model = Mixed::new(0);
    println!("{}", model.summary());
    println!("{}", Stack::new(0).summary());
    // Regression on generated data: y = mean(a) − mean(b).
    let a: Vec<[f32; 32]> =
        (0..256).map(|s| std::array::from_fn(|i| ((s * 13 + i * 5) % 17) as f32 / 8.0 - 1.0)).collect();
    let b: Vec<[f32; 128]> =
        (0..256).map(|s| std::array::from_fn(|i| ((s * 7 + i * 3) % 19) as f32 / 9.0 - 1.0)).collect();
    let y: Vec<[f32; 1]> =
        a.iter().zip(&b).map(|(p, q)| [p.iter().sum::<f32>() / 32.0 - q.iter().sum::<f32>() / 128.0]).collect();
    let mut model = model.compile(Adam::new(0.01), MeanSquaredError, &[Metric::MeanAbsoluteError]);
    model.fit((&a, &b), &y).epochs(20).batch_size(32).verbose(2).run()?;
    Ok(())
}
