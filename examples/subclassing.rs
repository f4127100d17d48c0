//! A hand-written model (Keras's "subclassing"): the user's own struct
//! composes runtime layers and implements `Network` — forward, backward,
//! parameters — without the macro, and trains with the same `fit`.
//!
//! ```text
//! cargo run --release --example subclassing
//! ```

use kiln::layers::{Ctx, Dense, DenseConfig, InputGrad, Layer};
use kiln::network::{count_params, InputFlat, Network};
use kiln::param::Param;
use kiln::prelude::*;
use kiln::summary::{Summary, SummaryRow};
use rand::SeedableRng;

/// 4 features → 16 relu → 3 softmax, written by hand.
pub struct TwoLayer {
    /// `[4, 16]`.
    pub hidden: Dense<4, 16>,
    /// `[16, 3]`.
    pub out: Dense<16, 3>,
}

impl TwoLayer {
    /// Keras's default initializers from a seeded generator.
    pub fn new(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let relu = DenseConfig { activation: Activation::Relu, ..DenseConfig::default() };
        let softmax = DenseConfig { activation: Activation::Softmax, ..DenseConfig::default() };
        TwoLayer { hidden: Dense::new(relu, &mut rng), out: Dense::new(softmax, &mut rng) }
    }
}

/// Activations and gradients for a batch.
pub struct TwoLayerWorkspace {
    capacity: usize,
    ctx: Ctx,
    h: Vec<f32>,
    dh: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
}

impl Network for TwoLayer {
    type Input = [f32; 4];
    type Output = [f32; 3];
    type Workspace = TwoLayerWorkspace;

    fn output_names(&self) -> Vec<&'static str> {
        vec!["out"]
    }

    fn workspace(&self, capacity: usize) -> TwoLayerWorkspace {
        let capacity = capacity.max(1);
        TwoLayerWorkspace {
            capacity,
            ctx: Ctx::new(0),
            h: vec![0.0; capacity * 16],
            dh: vec![0.0; capacity * 16],
            y: vec![0.0; capacity * 3],
            dy: vec![0.0; capacity * 3],
        }
    }

    fn capacity(ws: &TwoLayerWorkspace) -> usize {
        ws.capacity
    }

    fn forward(&self, ws: &mut TwoLayerWorkspace, x: InputFlat<'_, Self>, batch: usize, training: bool) {
        ws.ctx.training = training;
        self.hidden.forward(&x[..batch * 4], &mut ws.h[..batch * 16], batch, &mut (), &mut ws.ctx);
        self.out.forward(&ws.h[..batch * 16], &mut ws.y[..batch * 3], batch, &mut (), &mut ws.ctx);
    }

    fn output_and_grad(ws: &mut TwoLayerWorkspace, _: usize, batch: usize) -> (&[f32], &mut [f32]) {
        (&ws.y[..batch * 3], &mut ws.dy[..batch * 3])
    }

    fn backward(&mut self, ws: &mut TwoLayerWorkspace, x: InputFlat<'_, Self>, batch: usize) {
        self.visit_params(&mut |p| p.grad.fill(0.0));
        let dh = InputGrad { grad: &mut ws.dh[..batch * 16], accumulate: false };
        let (h, y, dy) = (&ws.h[..batch * 16], &ws.y[..batch * 3], &mut ws.dy[..batch * 3]);
        self.out.backward(h, y, dy, Some(dh), batch, &mut (), &mut ws.ctx);
        self.hidden.backward(&x[..batch * 4], h, &mut ws.dh[..batch * 16], None, batch, &mut (), &mut ws.ctx);
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(&mut Param)) {
        self.hidden.visit_params(f);
        self.out.visit_params(f);
    }

    fn params(&self, f: &mut dyn FnMut(&Param)) {
        self.hidden.params(f);
        self.out.params(f);
    }

    fn summary(&self) -> Summary {
        let row = |name: &str, shape: &str, params: (usize, usize)| SummaryRow {
            name: name.into(),
            kind: "Dense".into(),
            output_shape: shape.into(),
            trainable: params.0,
            non_trainable: params.1,
            connected_to: Vec::new(),
        };
        Summary {
            model_name: "two_layer".into(),
            rows: vec![
                row("hidden", "(None, 16)", count_params(|f| self.hidden.params(f))),
                row("out", "(None, 3)", count_params(|f| self.out.params(f))),
            ],
            sequential_like: true,
        }
    }

    fn try_predict_one(&self, x: &[f32; 4]) -> kiln::Result<[f32; 3]> {
        let (mut h, mut y) = ([0.0; 16], [0.0; 3]);
        self.hidden.forward_one(x, &mut h);
        self.out.forward_one(&h, &mut y);
        Ok(y)
    }
}

/// Three classes by which quadrant-ish region a point falls in.
pub fn data(n: usize) -> (Vec<[f32; 4]>, Vec<u32>) {
    let x: Vec<[f32; 4]> =
        (0..n).map(|i| std::array::from_fn(|j| ((i * 37 + j * 11) % 23) as f32 / 11.0 - 1.0)).collect();
    let y = x
        .iter()
        .map(|v| {
            if v[0] > 0.3 {
                0
            } else if v[1] > 0.0 {
                1
            } else {
                2
            }
        })
        .collect();
    (x, y)
}

#[allow(dead_code)] // tests include this file for the model only
fn main() -> kiln::Result<()> {
    let (x, y) = data(256);
    let mut model = TwoLayer::new(0).compile(Adam::new(0.02), SparseCategoricalCrossentropy, &[Metric::Accuracy]);
    println!("{}", model.summary());
    model.fit(&x, &y).epochs(30).batch_size(32).verbose(0).run()?;
    println!("{}", model.evaluate(&x, &y, 64)?);
    Ok(())
}
