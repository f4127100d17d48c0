//! A layer of the user's own (Keras's custom-layer subclassing): `Scale`
//! multiplies each feature by a learned weight and adds a learned bias.
//! It implements `kiln::layers::Layer` (forward, backward, parameters),
//! is checked with `kiln::testing::check_layer_gradients`, and is used in
//! `model!` with its output shape on the line — rustc rejects the line if
//! the type's real shape differs.
//!
//! ```text
//! cargo run --release --example custom_layer
//! ```

use kiln::layers::{Ctx, InputGrad, Layer};
use kiln::param::Param;
use kiln::prelude::*;

/// `y = x ⊙ w + b` over `N` features.
pub struct Scale<const N: usize> {
    /// `[N]`, starts at 1.
    pub weight: Param,
    /// `[N]`, starts at 0.
    pub bias: Param,
}

impl<const N: usize> Scale<N> {
    /// The identity map, to be learned away from.
    pub fn new() -> Self {
        let mut weight = Param::zeros("weight", &[N]);
        weight.value.fill(1.0);
        Scale { weight, bias: Param::zeros("bias", &[N]) }
    }
}

impl<const N: usize> Default for Scale<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Layer for Scale<N> {
    type In = f32;
    type Cache = ();
    const INPUT_LEN: usize = N;
    const OUTPUT_LEN: usize = N;

    fn keras_type(&self) -> &'static str {
        "Scale"
    }

    fn forward(&self, x: &[f32], y: &mut [f32], _: usize, _: &mut (), _: &mut Ctx) {
        for (xs, ys) in x.chunks_exact(N).zip(y.chunks_exact_mut(N)) {
            self.forward_one(xs, ys);
        }
    }

    fn backward(
        &mut self,
        x: &[f32],
        _: &[f32],
        dy: &mut [f32],
        dx: Option<InputGrad<'_>>,
        _: usize,
        _: &mut (),
        _: &mut Ctx,
    ) {
        for (xs, g) in x.chunks_exact(N).zip(dy.chunks_exact(N)) {
            for j in 0..N {
                self.weight.grad[j] += g[j] * xs[j];
                self.bias.grad[j] += g[j];
            }
        }
        if let Some(dx) = dx {
            for (i, d) in dx.grad.iter_mut().enumerate() {
                let g = dy[i] * self.weight.value[i % N];
                *d = if dx.accumulate { *d + g } else { g };
            }
        }
    }

    fn forward_one(&self, x: &[f32], y: &mut [f32]) {
        for j in 0..N {
            y[j] = x[j] * self.weight.value[j] + self.bias.value[j];
        }
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        f(&mut self.weight);
        f(&mut self.bias);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        f(&self.weight);
        f(&self.bias);
    }
}

kiln::model! {
    /// A Dense network with the custom layer in the middle.
    pub struct WithScale {
        input x: [f32; 4];
        let h = Dense(16, activation = tanh)(x);
        let scaled: [16] = custom(Scale::<16>::new())(h);
        let y = Dense(1, activation = sigmoid)(scaled);
        output y;
    }
}

#[allow(dead_code)] // tests include this file for the layer and model only
fn main() -> kiln::Result<()> {
    kiln::testing::check_layer_gradients(&mut Scale::<3>::new(), 2);
    println!("Scale passes the finite-difference gradient check");
    let x: Vec<[f32; 4]> =
        (0..64).map(|i| std::array::from_fn(|j| ((i * 7 + j * 3) % 11) as f32 / 5.0 - 1.0)).collect();
    let y: Vec<[f32; 1]> = x.iter().map(|v| [f32::from(u8::from(v[0] * v[1] > 0.0))]).collect();
    let mut model = WithScale::new(0).compile(Adam::new(0.02), BinaryCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    model.fit(&x, &y).epochs(30).batch_size(16).verbose(0).run()?;
    println!("accuracy: {:?}", model.evaluate(&x, &y, 64)?.get("accuracy"));
    Ok(())
}
